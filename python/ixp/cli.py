"""The `ixp` command.

- `ixp serve`: validate the configuration, then start Granian with production defaults. Flags
  mirror the `IXP_*` settings; they are passed to the workers through the environment, so a worker
  builds exactly the app that was validated here.
- `ixp validate`: check registry files without serving; every problem with its file, entry, field.
- `ixp init DIR`: scaffold a project (registry files, a plugin, its tests, a README).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import string
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import resources
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


EXAMPLES_WARNING = (
    "ixp: WARNING: no {missing} given: serving the bundled EXAMPLE {what} (demo data, not yours).\n"
    "ixp: use your own with --intents FILE --components FILE (or IXP_INTENTS / IXP_COMPONENTS);\n"
    "ixp: `ixp init DIR` creates a starter project with both files, a plugin and its tests.\n"
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
    serve.add_argument(
        "--plugin",
        action="append",
        metavar="MODULE:ATTRIBUTE",
        help="load a plugin, e.g. plugin:WeatherPlugin (repeatable; added to IXP_PLUGINS)",
    )
    serve.add_argument("--reload", action="store_true", default=None, help="hot-reload the registry files")
    serve.add_argument("--interface", choices=("rsgi", "asgi"), default="rsgi", help="Granian interface")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    serve.add_argument("--tls-cert", help="PEM certificate: serve HTTPS with HTTP/2 (IXP_TLS_CERT)")
    serve.add_argument("--tls-key", help="PEM private key (IXP_TLS_KEY)")
    serve.add_argument("--http", choices=("auto", "1", "2"), help="HTTP versions (IXP_HTTP, default auto)")

    validate = commands.add_parser(
        "validate",
        help="check registry files without serving",
        description="Load and check the registry files; list every problem with its file, entry and field.",
    )
    validate.add_argument("--intents", required=True, help="intents JSON file")
    validate.add_argument("--components", required=True, help="components JSON file")
    validate.add_argument("--theme", help="theme JSON file")
    validate.add_argument(
        "--strict",
        action="store_true",
        help="treat warnings as problems (intents naming unregistered components, schema warnings)",
    )

    init = commands.add_parser(
        "init",
        help="create a starter project",
        description="Create DIR with intents.json, components.json, a plugin, its tests and a README.",
    )
    init.add_argument("directory", metavar="DIR", help="the project directory (must not exist or be empty)")
    keys = commands.add_parser("keys", help="API keys (README, 'Security')")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    new = key_commands.add_parser("new", help="print a fresh API key once, and the line to configure")
    new.add_argument("name", help="the key's name (1-64 of A-Z a-z 0-9 . _ -), shown in logs")
    new.add_argument(
        "--scopes",
        required=True,
        help="comma-separated: users:read, users:write, sessions:write, metrics:read",
    )
    return parser


def apply_flags(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str]) -> None:
    for flag, env in _FLAG_TO_ENV.items():
        value = getattr(args, flag, None)
        if value is not None:
            environ[env] = str(value)
    if args.reload:
        environ["IXP_RELOAD"] = "true"
    plugins = getattr(args, "plugin", None)
    if plugins:
        existing = [part.strip() for part in environ.get("IXP_PLUGINS", "").split(",") if part.strip()]
        environ["IXP_PLUGINS"] = ",".join([*existing, *(p for p in plugins if p not in existing)])


def examples_warning(settings: Settings) -> str | None:
    """The warning `ixp serve` prints when it falls back on the bundled example registry."""
    given = {"intents": settings.intents, "components": settings.components}
    missing = [name for name, path in given.items() if not path]
    if not missing:
        return None
    return EXAMPLES_WARNING.format(
        missing=" or ".join(f"--{name}" for name in missing), what=" and ".join(missing)
    )


def serve(args: argparse.Namespace) -> int:
    apply_flags(args, os.environ)
    # Granian's workers import from the working directory (as `python -m` does): so does this check,
    # so that `--plugin plugin:WeatherPlugin` finds ./plugin.py here as it will in the workers.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        settings = Settings.from_env()
        warning = examples_warning(settings)
        if warning:
            sys.stderr.write(warning)
            sys.stderr.flush()
        from ixp.app import create_app

        create_app(settings)  # fail here, once, with every problem listed, rather than in each worker
    except ConfigError as exc:
        sys.stderr.write("ixp: invalid configuration, not starting:\n")
        sys.stderr.writelines(f"  - {problem}\n" for problem in exc.problems)
        return 2

    from granian import Granian

    Granian("ixp.app:app", **granian_options(settings, args.interface)).serve()
    return 0


class _Captured(logging.Handler):
    """Keeps the warnings logged under `ixp` while a registry loads."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _capture_warnings() -> Iterator[_Captured]:
    logger = logging.getLogger("ixp")
    handler = _Captured()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.propagate = False  # reported below, once, rather than printed by whatever logs them
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def validate(args: argparse.Namespace) -> int:
    from ixp.registry.loader import load_registry

    intents_path = str(Path(args.intents).resolve())
    components_path = str(Path(args.components).resolve())
    settings = Settings(intents=args.intents, components=args.components, theme=args.theme)
    problems: list[str] = []
    warnings: list[str] = []
    registry = None
    with _capture_warnings() as captured:
        try:
            registry = load_registry(settings)
        except ConfigError as exc:
            problems.extend(exc.problems)
    unregistered: set[tuple[str, str]] = set()
    if registry is not None:
        for index, intent in enumerate(registry.intents.values()):
            if intent.component not in registry.components:
                unregistered.add((intent.name, intent.component))
                warnings.append(
                    f"{intents_path}: intents[{index}] ({intent.name!r}): field 'component' names "
                    f"{intent.component!r}, which is not registered in {components_path}: "
                    "/ixp/render answers 404 COMPONENT_NOT_FOUND for it"
                )
    for record in captured.records:
        # The registry's own warning about an unregistered component is the one reported above.
        if isinstance(record.args, tuple) and record.args[:2] in unregistered:
            continue
        warnings.append(record.getMessage())

    if args.strict:
        problems.extend(warnings)
        warnings = []
    if warnings:
        sys.stderr.write(f"ixp: {_plural(len(warnings), 'warning')} (--strict makes them problems):\n")
        sys.stderr.writelines(f"  - {warning}\n" for warning in warnings)
    if problems:
        sys.stderr.write(f"ixp: invalid registry, {_plural(len(problems), 'problem')}:\n")
        sys.stderr.writelines(f"  - {problem}\n" for problem in problems)
        return 2
    assert registry is not None
    sys.stdout.write(
        f"ok: {_plural(len(registry.intents), 'intent')}, {_plural(len(registry.components), 'component')}"
        + (f", {_plural(len(warnings), 'warning')}" if warnings else "")
        + f" ({args.intents}, {args.components}{', ' + args.theme if args.theme else ''})\n"
    )
    return 0


SCAFFOLD: Mapping[str, str] = MappingProxyType(
    {  # template in ixp/scaffold -> file in the new project
        "intents.json": "intents.json",
        "components.json": "components.json",
        "plugin.py.tmpl": "plugin.py",
        "test_project.py.tmpl": "test_project.py",
        "README.md.tmpl": "README.md",
    }
)


def init(args: argparse.Namespace) -> int:
    target = Path(args.directory)
    if target.exists() and not target.is_dir():
        sys.stderr.write(f"ixp init: {target} exists and is not a directory; choose a new directory\n")
        return 2
    if target.is_dir() and any(target.iterdir()):
        sys.stderr.write(
            f"ixp init: {target} exists and is not empty; refusing to overwrite anything there. "
            "Choose a new (or empty) directory.\n"
        )
        return 2
    try:
        target.mkdir(parents=True, exist_ok=True)
        templates = resources.files("ixp").joinpath("scaffold")
        project = target.resolve().name
        for template, name in SCAFFOLD.items():
            text = templates.joinpath(template).read_text(encoding="utf-8")
            if template.endswith(".tmpl"):
                text = string.Template(text).safe_substitute(project=project)
            (target / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"ixp init: cannot create the project in {target}: {exc}\n")
        return 2
    sys.stdout.write(
        f"Created {target}/ with {', '.join(SCAFFOLD.values())}.\n\n"
        f"  cd {shlex.quote(str(target))}\n"
        "  ixp validate --intents intents.json --components components.json --strict\n"
        "  python -m pytest\n"
        "  ixp serve --intents intents.json --components components.json --plugin plugin:WeatherPlugin\n"
    )
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
    if args.command == "validate":
        return validate(args)
    if args.command == "init":
        return init(args)
    if args.command == "keys":
        return new_key(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


def new_key(args: argparse.Namespace) -> int:
    """`ixp keys new NAME --scopes ...`: the key (shown once, never stored) and its config line."""
    from ixp.http.access import digest_of, new_key, parse_keys

    key = new_key()
    line = f"{args.name} {digest_of(key)} {args.scopes}"
    try:
        parse_keys(line, "the new key")
    except ConfigError as exc:
        sys.stderr.writelines(f"ixp keys new: {problem}\n" for problem in exc.problems)
        return 2
    sys.stdout.write(
        f"API key (shown once; store it in your secret manager):\n  {key}\n\n"
        f"Add this line to the file named by IXP_API_KEYS_FILE (or to IXP_API_KEYS):\n  {line}\n\n"
        f"Clients send it as: Authorization: Bearer {key}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
