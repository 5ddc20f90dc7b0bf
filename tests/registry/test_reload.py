"""Hot reload (`IXP_RELOAD`): a valid edit swaps the whole registry; a bad one changes nothing."""

from __future__ import annotations

import asyncio
import json

from ixp.registry.reload import RegistryWatcher
from tests._support import asgi_client, example_intents, render_body


async def test_valid_edit_is_picked_up_and_bad_edit_keeps_the_old_registry(make_app, write_registry) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry()
    app = make_app(
        intents=str(intents_path), components=str(components_path), reload=True, reload_interval=0.05
    )
    async with asgi_client(app) as client:
        await app.startup()
        try:
            original_version = app.registry.current.version
            etag = (await client.get("/ixp/intents")).headers["etag"]

            intents = example_intents()
            intents["intents"][0]["description"] = "Hello again"
            intents_path.write_text(json.dumps(intents))
            for _ in range(100):
                await asyncio.sleep(0.05)
                if app.registry.current.version != original_version:
                    break
            assert app.registry.current.version != original_version
            response = await client.get("/ixp/intents")
            assert response.json()["intents"][0]["description"] == "Hello again"
            assert response.headers["etag"] != etag

            good_version = app.registry.current.version
            intents["intents"][1]["description"] = ""  # invalid
            intents["intents"][0]["description"] = "Should not appear"
            intents_path.write_text(json.dumps(intents))
            await asyncio.sleep(0.4)
            assert app.registry.current.version == good_version
            body = (await client.get("/ixp/intents")).json()
            assert body["intents"][0]["description"] == "Hello again"
            assert len(body["intents"]) == 8  # never a partial registry (docs/protocol.md §3.5)
            assert (await client.post("/ixp/render", json=render_body("show_faq", {}))).status_code == 200
        finally:
            await app.shutdown()


def test_check_reports_failures_and_reloads(make_app, write_registry) -> None:  # type: ignore[no-untyped-def]
    intents_path, components_path = write_registry()
    app = make_app(intents=str(intents_path), components=str(components_path))
    watcher = RegistryWatcher(app.settings, app.registry)
    stamp = watcher.check(())
    assert watcher.reloads == 1
    intents_path.write_text("{broken")
    watcher.check(stamp)
    assert watcher.failures == 1 and watcher.reloads == 1
