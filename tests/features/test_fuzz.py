"""Fuzzing the Python entry points: request decoders, the render and processing paths, and the
conversion of captured strings. Whatever the input, only a 4xx `IXPError` may come out — never
another exception (which would be a 500).

Bounded here (IXP_FUZZ_EXAMPLES per property, default 300); the long run is documented in the
README ("Security"): `IXP_FUZZ_EXAMPLES=25000 python -m pytest tests/features/test_fuzz.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ixp.app import IXPApp
from ixp.base.errors import IXPError
from ixp.features.captures import convert_captures
from ixp.features.processing import batch_decoder, process_decoder
from ixp.features.users import new_user_decoder
from ixp.http.body import decode_json_body
from ixp.http.types import Request
from ixp.render import render_request_decoder

EXAMPLES = int(os.environ.get("IXP_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x+json; charset=latin1",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
intent_names = st.sampled_from(
    [
        "show_products",
        "weather_forecast",
        "track_order",
        "book_appointment",
        "show_faq",
        "show_promo",
        "nope",
        "",
    ]
)
render_shaped = st.fixed_dictionaries(
    {"intent": st.fixed_dictionaries({"name": intent_names}, optional={"parameters": json_values})},
    optional={"options": json_values},
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: msgspec.json.encode(v)),
    render_shaped.map(lambda v: msgspec.json.encode(v)),
    st.fixed_dictionaries({"message": st.text(max_size=60)}, optional={"userId": json_values}).map(
        lambda v: msgspec.json.encode(v)
    ),
)


def only_client_errors(call: Callable[[], Any]) -> None:
    try:
        call()
    except IXPError as error:
        assert 400 <= error.status < 500, (error.status, error.message)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> IXPApp:
    from ixp.app import create_app
    from ixp.base.settings import Settings

    return create_app(Settings(sqlite_path=str(tmp_path_factory.mktemp("fuzz") / "ixp.db")))


@FUZZ
@given(body=bodies, content_type=st.sampled_from(JSON_TYPES))
def test_request_decoders_answer_every_body_with_a_4xx_at_worst(
    fuzz_app: IXPApp, body: bytes, content_type: str
) -> None:
    request = Request("POST", "/x", "", {"content-type": content_type}, body)
    for decoder in (render_request_decoder, process_decoder, batch_decoder, new_user_decoder):
        only_client_errors(lambda decoder=decoder: decode_json_body(request, decoder))  # type: ignore[misc]

    def render() -> None:
        decoded = decode_json_body(request, render_request_decoder)
        if decoded.intent is not None:
            fuzz_app.renderer.render(decoded.intent.name, decoded.intent.parameters, decoded.options, None)

    only_client_errors(render)
    fast = fuzz_app.renderer.plan.table.render(body, None)  # the Rust lane: bytes or None, never raises
    assert fast is None or fast.startswith(b'{"record":')


@FUZZ
@given(
    intent=st.sampled_from(
        ["show_products", "weather_forecast", "track_order", "book_appointment", "show_faq"]
    ),
    captures=st.dictionaries(
        st.sampled_from(
            [
                "category",
                "limit",
                "city",
                "days",
                "units",
                "orderId",
                "notify",
                "date",
                "partySize",
                "query",
                "x",
            ]
        ),
        st.text(max_size=30),
        max_size=5,
    ),
)
def test_capture_conversion_answers_every_capture_with_a_4xx_at_worst(
    fuzz_app: IXPApp, intent: str, captures: dict[str, str]
) -> None:
    registry = fuzz_app.registry.current

    def convert_and_render() -> None:
        parameters = convert_captures(registry, intent, captures)
        fuzz_app.renderer.render(intent, parameters, None, None)

    only_client_errors(convert_and_render)


@FUZZ
@given(message=st.text(max_size=300))
def test_messages_are_matched_or_refused_with_a_4xx(fuzz_app: IXPApp, message: str) -> None:
    processor = fuzz_app.processor

    def process() -> None:
        key = processor.check_message(message)
        name, captures = processor.match(key)[0]
        if name:
            parameters = convert_captures(fuzz_app.registry.current, name, captures)
            fuzz_app.renderer.render(name, parameters, None, None)

    only_client_errors(process)
