"""The render plan: per registry version, swapped with it; descriptors and their TTL."""

from __future__ import annotations

import logging

import pytest

from ixp.base.errors import ErrorCode, IXPError
from ixp.base.settings import Settings
from ixp.registry import RegistryRef, load_registry
from ixp.registry.envelope import ttl_seconds
from ixp.render import Renderer


def test_the_plan_follows_the_registry_swap() -> None:
    ref = RegistryRef(load_registry(Settings()))
    renderer = Renderer(ref)
    first_plan = renderer.plan
    assert first_plan.registry is ref.current
    ref.swap(load_registry(Settings(), version=2))
    assert renderer.plan is not first_plan and renderer.plan.registry is ref.current


def test_deprecation_is_warned_once_per_intent_and_version(caplog: pytest.LogCaptureFixture) -> None:
    ref = RegistryRef(load_registry(Settings()))
    renderer = Renderer(ref)
    caplog.set_level(logging.WARNING, logger="ixp.render")
    for _ in range(3):
        renderer.render("show_promo", {}, None, None)
    assert len([r for r in caplog.records if "deprecated" in r.getMessage()]) == 1
    ref.swap(load_registry(Settings(), version=2))
    renderer.render("show_promo", {}, None, None)
    assert len([r for r in caplog.records if "deprecated" in r.getMessage()]) == 2


def test_errors_come_in_the_decision_order() -> None:
    renderer = Renderer(RegistryRef(load_registry(Settings())))
    with pytest.raises(IXPError) as missing:
        renderer.render("", {}, None, None)
    assert missing.value.code is ErrorCode.INVALID_REQUEST
    with pytest.raises(IXPError) as unknown:
        renderer.render("nope", {}, None, None)
    assert unknown.value.code is ErrorCode.INTENT_NOT_SUPPORTED and unknown.value.status == 404


def test_ttl_rules() -> None:
    registry = load_registry(Settings())
    ttl = {
        name: ttl_seconds(intent, registry.components[intent.component])
        for name, intent in registry.intents.items()
        if intent.component in registry.components
    }
    deprecated = [n for n, i in registry.intents.items() if i.deprecated]
    crawlable = [n for n, i in registry.intents.items() if i.crawlable and not i.deprecated]
    assert deprecated and crawlable
    assert all(ttl[n] <= 60 or registry.intents[n].crawlable for n in deprecated)
    assert all(ttl[n] >= 600 for n in crawlable)
    assert set(ttl.values()) <= {60, 300, 600, 900}
