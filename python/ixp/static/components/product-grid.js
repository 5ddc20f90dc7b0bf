import { card } from "./_card.js";

export function ProductGrid(element, props) {
  const count = props.limit || 12;
  const items = Array.from({ length: Math.min(count, 6) }, (_, i) => `${props.category || "all"} #${i + 1}`);
  return card(element, "products", `Top ${count} ${props.category || "products"}`, [
    `Sorted by ${props.sort || "popular"}`,
    items.join(" · "),
  ]);
}
