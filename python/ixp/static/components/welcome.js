import { card } from "./_card.js";

export function WelcomeMessage(element, props) {
  const who = props.name ? `, ${props.name}` : "";
  return card(element, "welcome", `Welcome${who}!`, [`Theme: ${props.theme || "light"}`]);
}
