import { card } from "./_card.js";

export function PromoBanner(element, props) {
  return card(element, "promo", `The ${props.campaign || "winter"} sale is on`, ["Deals across the shop."]);
}
