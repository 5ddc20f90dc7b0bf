"""The composition root: services built from the settings, features built from the services, their
contributions collected into one router, one pipeline and one lifecycle.

`granian ixp.app` serves `app` over RSGI (Granian's default), `granian --interface asgi ixp.app`
over ASGI; `create_app(settings)` builds one for embedding and tests. Nothing below this module
reaches back into the app object: each feature gets the services it uses as arguments.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from typing import Any

from ixp.base.errors import ConfigError
from ixp.base.lifecycle import Lifecycle
from ixp.base.settings import Settings
from ixp.base.shared import shared_dir
from ixp.features.access import access_control, keys_reloader
from ixp.features.contribution import Contribution, HealthCheck
from ixp.features.crawler import crawler
from ixp.features.health import health, memory_monitor
from ixp.features.metrics import metrics_endpoint
from ixp.features.probes import Drain, Readiness, probes
from ixp.features.processing import IntentProcessor, processing
from ixp.features.protocol import protocol
from ixp.features.storage import storage
from ixp.features.users import users
from ixp.features.web import web
from ixp.http.access import AccessControl
from ixp.http.adapters import ServerAdapters
from ixp.http.compression import Compressor
from ixp.http.pipeline import Pipeline
from ixp.http.ratelimit import ClientAddress, RateLimit
from ixp.http.routing import Router
from ixp.observability.cluster import ClusterMetrics, node_name
from ixp.observability.log import configure_logging
from ixp.observability.memory import MemoryMonitor
from ixp.observability.metrics import Metrics, Section
from ixp.plugins import adapt, load_plugins
from ixp.registry.loader import load_registry
from ixp.registry.reference import RegistryRef
from ixp.registry.reload import RegistryWatcher
from ixp.registry.version import Registry
from ixp.render.providers import DataProviders
from ixp.render.renderer import Renderer
from ixp.storage.service import StorageService


class IXPApp(ServerAdapters):
    """The IXP server: an RSGI and ASGI app. Build one with `create_app(settings)`."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        plugins: Sequence[Any] = (),
        extra: Sequence[Contribution] = (),
    ) -> None:
        self.settings = settings
        mount = settings.mount_path
        # Plugins first: a plugin that cannot be loaded stops start-up before anything is built.
        extensions = adapt(load_plugins([*settings.plugins, *plugins]))
        providers = (
            DataProviders(extensions.providers, settings.provider_timeout, settings.provider_errors)
            if extensions.providers
            else None
        )
        # Services, each built once and handed to the features that use it.
        self.registry = RegistryRef(registry if registry is not None else load_registry(settings))
        self.compressor = Compressor(settings)
        self.renderer = Renderer(self.registry, providers)
        self.storage = StorageService(settings)
        client_address = ClientAddress(settings.trusted_proxies)
        shared = shared_dir(settings.shared_dir)  # this server's workers on this host
        self.access = AccessControl(settings, client_address, shared)
        self.processor = IntentProcessor(settings, self.registry, self.renderer, self.storage, self.access)
        rate_limit = RateLimit(settings, client_address, shared) if settings.rate_limit else None
        self.memory = MemoryMonitor(
            settings.memory_check_seconds, settings.memory_high_ratio, settings.memory_limit_mb
        )

        # The router is filled below; the OpenAPI description reads it when a version's spec is built.
        self.router = Router()
        # Features and what they contribute. Order only decides the order of start-up hooks (and
        # reverse shutdown): storage opens before anything that could use it.
        features = [
            storage(self.storage),
            protocol(settings, self.registry, self.renderer, self.compressor),
            crawler(self.registry, extensions.sources, settings.provider_timeout, mount),
            processing(self.processor),
            users(self.storage, self.access),
            access_control(settings, self.access),
            memory_monitor(self.memory),
            web(settings, self.registry, self.compressor, self.router.documented),
            *extensions.contributions,
            *extra,
        ]
        if providers is not None:
            features.append(
                Contribution("data providers", metrics_sections={"dataProviders": providers.stats})
            )
        sections: dict[str, Section] = {}
        checks: dict[str, HealthCheck] = {}
        for feature in features:
            sections.update(feature.metrics_sections)
            checks.update(feature.health_checks)
        readiness = Readiness(checks)
        series = [
            self.memory.prometheus,
            self.processor.cache_series,
            self.storage.cache_series,
            readiness.series,
        ]
        self.metrics = Metrics((), sections, series)
        self.cluster = ClusterMetrics(
            self.metrics,
            shared,
            settings.node_name or node_name(),
            settings.metrics_flush_seconds,
            settings.redis_url,
        )
        self.metrics.sections["cluster"] = self.cluster.stats
        features.append(health(self.registry, checks, mount))
        features.append(probes(readiness, Drain(readiness, settings.drain_seconds), mount))
        features.append(
            Contribution("cluster metrics", on_startup=[self.cluster.start], on_shutdown=[self.cluster.stop])
        )
        if settings.metrics_enabled:
            features.append(
                metrics_endpoint(
                    self.registry, self.metrics, self.cluster, self.access, readiness.check, mount
                )
            )
        if settings.reload:
            watcher = RegistryWatcher(settings, self.registry, also=keys_reloader(settings, self.access))
            features.append(Contribution("reload", on_startup=[watcher.start], on_shutdown=[watcher.stop]))

        for feature in features:
            for listener in feature.registry_listeners:
                self.registry.subscribe(listener)
            for route in feature.routes:
                try:
                    self.router.add(route)
                except ValueError as exc:
                    raise ConfigError(f"feature {feature.name!r}: {exc}") from None
        self.pipeline = Pipeline(
            settings, self.router, self.registry, self.metrics, self.compressor, rate_limit
        )
        startup = [hook for feature in features for hook in feature.on_startup]
        shutdown = [hook for feature in features for hook in feature.on_shutdown]
        if rate_limit is not None:
            startup.append(rate_limit.start)
            shutdown.append(rate_limit.stop)
        startup.append(readiness.mark_started)  # ready only once every hook has run
        shutdown.insert(0, self.pipeline.stop)  # runs last: the watchdog outlives every other hook
        self.lifecycle = Lifecycle(startup, shutdown)

    async def startup(self) -> None:
        await self.lifecycle.start()
        # Everything built so far (registry, compiled tables, modules) lives as long as the worker:
        # moved out of the collector's generations, full collections stop re-scanning it on the
        # request path (a collection's cost grows with the tracked heap).
        gc.collect()
        gc.freeze()

    async def shutdown(self) -> None:
        await self.lifecycle.stop()


def create_app(
    settings: Settings | None = None, plugins: Sequence[Any] = (), extra: Sequence[Contribution] = ()
) -> IXPApp:
    """Build an app (raises `ConfigError` on invalid settings, registry files or plugins).

    `plugins`: plugin objects or `module:attribute` strings, loaded after those of `IXP_PLUGINS`
    (README, "Extending ixp"); `extra`: contributions added after the built-in features.
    """
    return IXPApp(settings if settings is not None else Settings.from_env(), plugins=plugins, extra=extra)


app: IXPApp  # built on first access by __getattr__ below


def __getattr__(name: str) -> Any:
    # `ixp.app:app` is built on first access, from the environment, so that importing this module
    # (tests, embedding) does not load a registry; Granian's `granian ixp.app` accesses it.
    if name == "app":
        global app
        try:
            settings = Settings.from_env()
            configure_logging(settings.log_level, settings.log_format)
            app = create_app(settings)
        except ConfigError as exc:
            sys.stderr.write(
                "ixp: invalid configuration, not starting:\n" + "".join(f"  - {p}\n" for p in exc.problems)
            )
            sys.stderr.flush()
            raise SystemExit(2) from None
        return app
    raise AttributeError(f"module 'ixp.app' has no attribute {name!r}")
