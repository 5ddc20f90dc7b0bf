// ixp browser runtime: a small ES module, served by ixp at <mount>/sdk/ixp.js (loadable cross-origin).
//
//   import { createClient } from "https://ixp.example.com/ixp/sdk/ixp.js";
//   const ixp = createClient({ baseUrl: "https://ixp.example.com" });
//   const descriptor = await ixp.render("weather_forecast", { city: "Lisbon" });
//   await ixp.mount(document.querySelector("#slot"), descriptor);
//
// With the bundled examples, `await ixp.useBundledComponents()` first mounts ixp's own modules
// (served under <mount>/static/components) in place of the examples' remote URLs.
//
// Every failed call rejects with an IXPError carrying the protocol's envelope (code, message,
// status, details, requestId). A component module exports a function called as fn(element, props);
// it renders into the element (or returns a Node, which replaces the element's children).

export class IXPError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.name = "IXPError";
    this.status = status;
    this.code = error.code || "INTERNAL_ERROR";
    this.details = error.details;
    this.requestId = error.requestId;
    this.timestamp = error.timestamp;
  }
}

const DEFAULT_MOUNT = "/ixp";

export function createClient(options = {}) {
  const origin = options.baseUrl ? String(options.baseUrl).replace(/\/+$/, "") : "";
  const mount = options.mountPath || DEFAULT_MOUNT;
  const fetchImpl = options.fetch || globalThis.fetch.bind(globalThis);
  const headers = { ...(options.headers || {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const modules = { ...(options.modules || {}) }; // component name -> module URL (overrides)
  let registry = null; // { etag, body }: the intents registry, revalidated with If-None-Match

  async function call(method, path, body, extra = {}) {
    const init = { method, headers: { accept: "application/json", ...headers, ...extra } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetchImpl(origin + path, init);
    } catch (cause) {
      throw new IXPError(0, { code: "NETWORK_ERROR", message: String(cause && cause.message || cause) });
    }
    return response;
  }

  async function json(response) {
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : { message: text || response.statusText };
      throw new IXPError(response.status, error);
    }
    return data;
  }

  return {
    baseUrl: origin,
    /** The intent definitions; cached, revalidated by ETag (a 304 reuses the cached body). */
    async intents() {
      const response = await call("GET", `${mount}/intents`, undefined, registry ? { "if-none-match": registry.etag } : {});
      if (response.status === 304 && registry) return registry.body.intents;
      const body = await json(response);
      const etag = response.headers.get("etag");
      registry = etag ? { etag, body } : null;
      return body.intents;
    },
    /** POST <mount>/render: the component descriptor for an intent and its parameters. */
    async render(name, parameters = {}, renderOptions = undefined) {
      const body = { intent: { name, parameters } };
      if (renderOptions !== undefined) body.options = renderOptions;
      return json(await call("POST", `${mount}/render`, body));
    },
    /** POST /api/intents/process: a free-text message → { intent, parameters, cached, descriptor }. */
    async process(message, { userId, options: processOptions } = {}) {
      const body = { message };
      if (userId !== undefined) body.userId = userId;
      if (processOptions !== undefined) body.options = processOptions;
      return json(await call("POST", "/api/intents/process", body));
    },
    /** Load the descriptor's module and call its export with the props, inside `element`. */
    async mount(element, descriptor) {
      const record = descriptor.record || descriptor;
      const name = descriptor.component && descriptor.component.name;
      const url = new URL(modules[name] || record.moduleUrl, (origin || location.origin) + "/").href;
      const module = await import(url);
      const render = module[record.exportName] || module.default;
      if (typeof render !== "function") {
        throw new IXPError(0, { code: "COMPONENT_NOT_FOUND", message: `${url} exports no '${record.exportName}'` });
      }
      element.replaceChildren();
      const out = await render(element, record.props || {});
      if (out instanceof Node) element.replaceChildren(out);
      return element;
    },
    /** Use these module URLs for these components (component name -> URL). */
    useModules(map) {
      Object.assign(modules, map);
    },
    /** Mount ixp's own modules for the bundled example components (served under <mount>/static). */
    async useBundledComponents() {
      const manifest = await json(await call("GET", `${mount}/static/components.json`));
      Object.assign(modules, manifest.modules);
      return manifest.modules;
    },
  };
}
