// The demo page: a chat box; each message goes through /api/intents/process and the matched
// component (ixp's bundled example modules) is mounted under it.
import { createClient } from "{{ixp.js}}";

const config = JSON.parse(document.getElementById("ixp-config").textContent);
const ixp = createClient({ mountPath: config.mount, modules: config.modules });
const form = document.getElementById("chat");
const input = document.getElementById("message");
const log = document.getElementById("log");

function entry(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  const label = document.createElement("div");
  label.className = "text";
  label.textContent = text;
  item.append(label);
  log.prepend(item);
  return item;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = input.value.trim();
  if (!message) return;
  input.value = "";
  const item = entry("user", message);
  const slot = document.createElement("div");
  slot.className = "slot";
  item.append(slot);
  try {
    const result = await ixp.process(message);
    slot.dataset.intent = result.intent;
    await ixp.mount(slot, result.descriptor);
  } catch (error) {
    slot.className = "slot error";
    slot.textContent = `${error.code || "ERROR"}: ${error.message}`;
  }
});
