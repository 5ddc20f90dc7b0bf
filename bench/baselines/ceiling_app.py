"""The ceiling: a minimal RSGI app that answers the two benchmarked requests with ixp's own bytes.

At import it builds an ixp app from the same settings (`IXP_INTENTS`, `IXP_COMPONENTS`), asks it
once for `GET /ixp/intents` and for `POST /ixp/render` with `RENDER_BODY`, and keeps the status,
headers and body. Per request it only looks the answer up (and reads the POST body off the wire),
so whatever it costs is Granian's RSGI floor for responses of exactly this size and header set.

Serve it with `granian --interface rsgi --workers 1 bench.baselines.ceiling_app:app` (repo root on
`sys.path`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from bench.registry_gen import RENDER_BODY
from ixp.app import create_app
from ixp.base.settings import Settings
from ixp.http.interfaces import Interface

Answer = tuple[int, list[tuple[str, str]], bytes]


async def _capture() -> dict[tuple[str, str], Answer]:
    app = create_app(Settings.from_env())
    body = msgspec.json.encode(RENDER_BODY)
    headers = {"content-type": "application/json", "content-length": str(len(body))}

    async def read_body(source: object, declared: int | None = None, limit: int = 0) -> bytes:
        return body

    interface = Interface(read_body, read_body, lambda scope: ("", ""))
    answers: dict[tuple[str, str], Answer] = {}
    for method, path, request_headers in (("GET", "/ixp/intents", {}), ("POST", "/ixp/render", headers)):
        response = await app.pipeline.respond(method, path, request_headers, None, None, interface)
        if response.status != 200:
            raise RuntimeError(
                f"ceiling: ixp answered {method} {path} with {response.status}: {response.body!r}"
            )
        answers[(method, path)] = (response.status, list(response.headers), response.body)
    return answers


def capture_responses() -> dict[tuple[str, str], Answer]:
    """ixp's responses to the two benchmarked requests, computed once in-process."""
    return asyncio.run(_capture())  # also cancels whatever background task the app started


class CeilingApp:
    """Looks the precomputed answer up by method and path; anything else is an empty 404."""

    def __init__(self, answers: dict[tuple[str, str], Answer]) -> None:
        self._answers = answers

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        answer = self._answers.get((scope.method, scope.path))
        if answer is None:
            proto.response_bytes(404, [], b"")
            return
        if scope.method == "POST":
            await proto()
        status, headers, body = answer
        proto.response_bytes(status, headers, body)


app = CeilingApp(capture_responses())
