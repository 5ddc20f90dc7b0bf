"""`ixp serve`: validate the configuration, then start Granian with production defaults.

Flags mirror the `IXP_*` settings; they are passed to the workers through the environment, so a
worker builds exactly the app that was validated here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ixp.base.errors import ConfigError
from ixp.base.settings import Settings

_FLAG_TO_ENV: Mapping[str, str] = MappingProxyType(
    {
        "host": "IXP_HOST",
        "port": "IXP_PORT",
        "workers": "IXP_WORKERS",
        "intents": "IXP_INTENTS",
        "components": "IXP_COMPONENTS",
        "theme": "IXP_THEME",
        "log_level": "IXP_LOG_LEVEL",
        "tls_cert": "IXP_TLS_CERT",
        "tls_key": "IXP_TLS_KEY",
        "http": "IXP_HTTP",
    }
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ixp", description="Intent Exchange Protocol server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the IXP endpoints with Granian")
    serve.add_argument("--host", help="address to bind (IXP_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (IXP_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (IXP_WORKERS, default 1)")
    serve.add_argument("--intents", help="intents JSON file (IXP_INTENTS, default: bundled examples)")
    serve.add_argument("--components", help="components JSON file (IXP_COMPONENTS)")
    serve.add_argument("--theme", help="theme JSON file (IXP_THEME)")
    serve.add_argument("--reload", action="store_true", default=None, help="hot-reload the registry files")
    serve.add_argument("--interface", choices=("rsgi", "asgi"), default="rsgi", help="Granian interface")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    serve.add_argument("--tls-cert", help="PEM certificate: serve HTTPS with HTTP/2 (IXP_TLS_CERT)")
    serve.add_argument("--tls-key", help="PEM private key (IXP_TLS_KEY)")
    serve.add_argument("--http", choices=("auto", "1", "2"), help="HTTP versions (IXP_HTTP, default auto)")
    return parser


def apply_flags(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str]) -> None:
    for flag, env in _FLAG_TO_ENV.items():
        value = getattr(args, flag, None)
        if value is not None:
            environ[env] = str(value)
    if args.reload:
        environ["IXP_RELOAD"] = "true"


def serve(args: argparse.Namespace) -> int:
    apply_flags(args, os.environ)
    try:
        settings = Settings.from_env()
        from ixp.app import create_app

        create_app(settings)  # fail here, once, with every problem listed, rather than in each worker
    except ConfigError as exc:
        sys.stderr.write("ixp: invalid configuration, not starting:\n")
        sys.stderr.writelines(f"  - {problem}\n" for problem in exc.problems)
        return 2

    from granian import Granian

    Granian("ixp.app:app", **granian_options(settings, args.interface)).serve()
    return 0


def granian_options(settings: Settings, interface: str = "rsgi") -> dict[str, Any]:
    """The settings that are Granian's to enforce, as Granian's keyword arguments."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings, HTTP2Settings

    options: dict[str, Any] = {
        "address": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "interface": Interfaces.ASGI if interface == "asgi" else Interfaces.RSGI,
        "http": {"auto": HTTPModes.auto, "1": HTTPModes.http1, "2": HTTPModes.http2}[settings.http],
        "websockets": False,
        "log_level": settings.log_level,
        "respawn_failed_workers": True,
        "http1_settings": HTTP1Settings(
            keep_alive=settings.keep_alive,
            header_read_timeout=int(settings.header_read_timeout * 1000),
            max_buffer_size=max(8192, settings.max_header_bytes),
        ),
        "http2_settings": HTTP2Settings(max_headers_size=settings.max_header_bytes),
    }
    if settings.tls_cert and settings.tls_key:
        options["ssl_cert"] = Path(settings.tls_cert)
        options["ssl_key"] = Path(settings.tls_key)
    return options


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    raise SystemExit(main())
