import { card } from "./_card.js";

export function OrderTracker(element, props) {
  return card(element, "order", `Order ${props.orderId}`, [
    props.notify ? "You will be notified of changes." : "Status: in transit",
  ]);
}
