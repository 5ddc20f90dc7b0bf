import { card } from "./_card.js";

export function WeatherCard(element, props) {
  const unit = props.units === "imperial" ? "°F" : "°C";
  return card(element, "weather", `Weather in ${props.city}`, [
    `${props.days || 3}-day forecast (${unit})`,
  ]);
}
