import { card } from "./_card.js";

export function FaqAccordion(element, props) {
  const items = (props.menuItems || []).map((item) => item.label || item.id);
  return card(element, "faq", "Frequently asked questions", [
    props.query ? `About: ${props.query}` : "Choose a topic",
    items.join(" · "),
  ]);
}
