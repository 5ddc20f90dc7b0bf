import { card } from "./_card.js";

export function AppointmentPicker(element, props) {
  const when = [props.date, props.time].filter(Boolean).join(" at ") || "pick a date";
  return card(element, "appointment", "Book an appointment", [
    `When: ${when}`,
    `Party of ${props.partySize || 1}`,
  ]);
}
