"""Real-browser tests: Debian's chromium (installed by scripts/test.sh) driven by Playwright, against a
live ixp (Granian on a loopback port). The docs page lists the operations; a page from another
origin (a second loopback port) imports ixp.js, renders an intent and mounts it; the demo page
mounts the component of a typed message. Screenshots go to .ci/tmp/artefacts/browser/ (git-ignored).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests._servers import free_port, granian_command, running
from tests._support import artefacts

pytestmark = [pytest.mark.granian, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

CROSS_ORIGIN_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>another origin</title></head>
<body><h1>A page on another origin</h1><div id="slot"></div><pre id="status">loading</pre>
<script type="module">
import { createClient } from "IXP/ixp/sdk/ixp.js";
const status = document.getElementById("status");
try {
  const ixp = createClient({ baseUrl: "IXP" });
  await ixp.useBundledComponents();
  const intents = await ixp.intents();
  const again = await ixp.intents();
  const descriptor = await ixp.render("weather_forecast", { city: "Lisbon", days: 5 });
  await ixp.mount(document.getElementById("slot"), descriptor);
  let failure = null;
  try { await ixp.render("no_such_intent", {}); } catch (error) { failure = error; }
  status.textContent = JSON.stringify({
    intents: intents.length, cachedSame: again === intents || again.length === intents.length,
    props: descriptor.record.props, code: failure.code, status: failure.status,
  });
} catch (error) {
  status.textContent = "ERROR " + (error.code || "") + " " + error.message;
}
</script></body></html>
"""


@pytest.fixture(scope="module")
def other_origin() -> Iterator[tuple[str, dict[str, str]]]:
    """A plain static server on a second loopback port; `pages[path] = html` sets what it serves."""
    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "not found").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def ixp_url(
    other_origin: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    env = {
        "IXP_SQLITE_PATH": str(tmp_path_factory.mktemp("browser") / "ixp.db"),
        "IXP_CORS_ORIGINS": other_origin[0],
        "IXP_LOG_LEVEL": "error",
    }
    with running(granian_command(port), port, env):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        "chromium is missing: scripts/test.sh installs it (apt-get install chromium)"
    )
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def console() -> list[str]:
    """The page's console errors; a test removes those it provokes on purpose."""
    return []


@pytest.fixture
def page(browser: Browser, console: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = console
    page.on("console", lambda message: _console(message, errors))
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    yield page
    context.close()
    assert errors == [], errors  # no CSP violation, no failed load, no uncaught exception


def _console(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(message.text)


def _screenshot(page: Page, name: str) -> None:
    page.screenshot(path=str(artefacts("browser") / name), full_page=True)


def test_docs_page_lists_the_operations(page: Page, ixp_url: str) -> None:
    page.goto(f"{ixp_url}/ixp/api-docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/ixp/render").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/intents/process").first).to_be_visible()
    assert operations.count() >= 18
    _screenshot(page, "api-docs.png")


def test_another_origin_imports_ixp_js_renders_and_mounts(
    page: Page, ixp_url: str, other_origin: tuple[str, dict[str, str]], console: list[str]
) -> None:
    origin, pages = other_origin
    pages["/app.html"] = CROSS_ORIGIN_PAGE.replace("IXP", ixp_url)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{origin}/app.html")
    status = page.locator("#status")
    expect(status).to_contain_text('"code":"INTENT_NOT_SUPPORTED"')
    expect(page.locator("#slot .ixp-card h3")).to_have_text("Weather in Lisbon")
    expect(page.locator("#slot .ixp-card")).to_contain_text("5-day forecast")
    assert '"intents":8' in status.inner_text()
    assert '"status":404' in status.inner_text()
    assert failed == []
    # The one error on purpose: the browser logs the 404 of the unknown intent.
    console.remove("Failed to load resource: the server responded with a status of 404 (Not Found)")
    _screenshot(page, "cross-origin.png")


def test_demo_page_mounts_the_component_of_a_typed_message(
    page: Page, ixp_url: str, console: list[str]
) -> None:
    page.goto(f"{ixp_url}/")
    page.fill("#message", "weather in Lisbon for 5 days")
    page.press("#message", "Enter")
    card = page.locator("#log .slot .ixp-card").first
    expect(card.locator("h3")).to_have_text("Weather in Lisbon")
    expect(card).to_contain_text("5-day forecast")
    page.fill("#message", "top 3 books")
    page.click("button[type=submit]")
    expect(page.locator("#log .slot .ixp-card h3").first).to_have_text("Top 3 books")
    page.fill("#message", "something nobody understands")
    page.press("#message", "Enter")
    expect(page.locator("#log .slot.error").first).to_contain_text("NO_INTENT_MATCHED")
    console.remove("Failed to load resource: the server responded with a status of 404 (Not Found)")
    _screenshot(page, "demo.png")


def test_ixp_js_revalidates_the_registry_by_etag(page: Page, ixp_url: str) -> None:
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/ixp/intents") else None)
    page.goto(f"{ixp_url}/")
    result = page.evaluate(
        """async () => {
            const { createClient } = await import("/ixp/sdk/ixp.js");
            const ixp = createClient();
            const first = await ixp.intents();
            const second = await ixp.intents();
            return [first.length, second === first];
        }"""
    )
    assert result == [8, True]
    assert statuses == [200, 304]
