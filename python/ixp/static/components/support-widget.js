import { card } from "./_card.js";

export function SupportWidget(element, props) {
  return card(element, "support", `Support: ${props.topic || "other"}`, [
    props.urgent ? "Marked urgent: an agent will answer first." : "An agent will answer shortly.",
  ]);
}
