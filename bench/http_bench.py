"""HTTP benchmark: ixp (RSGI and ASGI on Granian) against FastAPI/uvicorn and a do-nothing ceiling.

    python bench/http_bench.py [--duration S] [--connections N] [--quick] [--repeat R] [--profile]

For each target, with one generated 50-intent registry: start the server on a free loopback port,
check that every pre-run response has the expected status and shape, warm up, then run `wrk`
against `GET /ixp/intents` and `POST /ixp/render` while
reading the server's CPU time (the process and all its descendants, from /proc); for ixp also an
invalid render (a 400) and `POST /api/intents/process` with a message that hits the match cache. The
server is stopped before the next one starts. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # `python -m bench.http_bench` from the repository root
    from bench import harness
    from bench.registry_gen import (
        INVALID_RENDER_BODY,
        INVALID_RENDER_MESSAGE,
        PROCESS_BODY,
        PROCESS_PARAMETERS,
        RENDER_BODY,
        RENDER_COMPONENT,
        RENDER_PROPS,
        build_registry,
        write_registry,
    )
except ImportError:  # `python bench/http_bench.py`: this directory is on sys.path, the root may not be
    import harness  # type: ignore[no-redef,import-not-found]
    from registry_gen import (  # type: ignore[no-redef,import-not-found]
        INVALID_RENDER_BODY,
        INVALID_RENDER_MESSAGE,
        PROCESS_BODY,
        PROCESS_PARAMETERS,
        RENDER_BODY,
        RENDER_COMPONENT,
        RENDER_PROPS,
        build_registry,
        write_registry,
    )

ROOT = harness.ROOT
PRE_RUN_REQUESTS = 50
CEILING = "ceiling"
PROFILE_ROWS = 25

# The targets for ixp (RSGI), relative to the ceiling app on the same machine.
TARGET_RENDER_RPS_RATIO = 0.85
TARGET_RENDER_CPU_US = 35.0
TARGET_INTENTS_RPS_RATIO = 0.90
TARGET_INVALID_RENDER_RATIO = 0.85  # an invalid render's req/s against a valid one's, same run
TARGET_PROCESS_RATIO = 0.85  # free text hitting the match cache (no userId) against a valid render


BenchError = harness.BenchError


# -- targets and endpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    argv: Callable[[int], list[str]]
    ixp_bytes: bool = True  # sends ixp's exact bodies (checked); FastAPI only the same JSON


def _granian(interface: str, app: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        return harness.granian_argv(interface, app, port)

    return argv


def _uvicorn(app: str) -> Callable[[int], list[str]]:
    def argv(port: int) -> list[str]:
        fast = [
            *(["--loop", "uvloop"] if _installed("uvloop") else []),
            *(["--http", "httptools"] if _installed("httptools") else []),
        ]
        return [
            sys.executable, "-m", "uvicorn", "--workers", "1", "--log-level", "warning", "--no-access-log",
            *fast, "--host", "127.0.0.1", "--port", str(port), app,
        ]  # fmt: skip

    return argv


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


TARGETS = (
    Target("ixp-rsgi", _granian("rsgi", "ixp.app:app")),
    Target("ixp-asgi", _granian("asgi", "ixp.app:app")),
    Target("fastapi-uvicorn", _uvicorn("bench.baselines.fastapi_app:app"), ixp_bytes=False),
    Target(CEILING, _granian("rsgi", "bench.baselines.ceiling_app:app")),
)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: bytes = b""
    status: int = 200  # what every response must be
    ixp_only: bool = False  # not served by the ceiling and FastAPI baselines


RENDER_JSON = json.dumps(RENDER_BODY, separators=(",", ":")).encode()
INVALID_RENDER_JSON = json.dumps(INVALID_RENDER_BODY, separators=(",", ":")).encode()
PROCESS_JSON = json.dumps(PROCESS_BODY, separators=(",", ":")).encode()
ENDPOINTS = (
    Endpoint("intents", "GET", "/ixp/intents"),
    Endpoint("render", "POST", "/ixp/render", RENDER_JSON),
    Endpoint("invalid-render", "POST", "/ixp/render", INVALID_RENDER_JSON, status=400, ixp_only=True),
    Endpoint("process", "POST", "/api/intents/process", PROCESS_JSON, ixp_only=True),
)


def endpoints_of(target: str) -> tuple[Endpoint, ...]:
    return tuple(e for e in ENDPOINTS if not e.ixp_only or target.startswith("ixp"))


# -- response checks ------------------------------------------------------------------------------


def expected_intents(n_intents: int) -> list[dict[str, Any]]:
    intents: list[dict[str, Any]] = build_registry(n_intents)[0]["intents"]
    return intents


def check_intents(document: Any, n_intents: int) -> str | None:
    if not isinstance(document, dict) or set(document) != {"intents", "version", "timestamp"}:
        return f"expected keys intents/version/timestamp, got {_keys(document)}"
    if document["intents"] != expected_intents(n_intents):
        return f"`intents` is not the {n_intents} generated definitions"
    if document["version"] != "1.0.0" or not isinstance(document["timestamp"], str):
        return "bad version or timestamp"
    return None


def check_render(document: Any, n_intents: int) -> str | None:
    if not isinstance(document, dict) or set(document) != {"record", "component", "ttl"}:
        return f"expected keys record/component/ttl, got {_keys(document)}"
    record = document["record"]
    if not isinstance(record, dict) or record.get("props") != RENDER_PROPS:
        return f"record.props is not the 7 validated parameters: {record!r:.300}"
    if record.get("exportName") != RENDER_COMPONENT or document["component"].get("name") != RENDER_COMPONENT:
        return "record/component does not name the BenchRender component"
    if not isinstance(document["ttl"], int):
        return "ttl is not an integer"
    return None


def check_invalid_render(document: Any, n_intents: int) -> str | None:
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict) or error.get("code") != "INVALID_REQUEST":
        return f"expected an INVALID_REQUEST error envelope, got {document!r:.300}"
    if error.get("message") != INVALID_RENDER_MESSAGE or "validationErrors" not in error.get("details", {}):
        return f"not the validation error of `limit`: {error!r:.300}"
    return None


def check_process(document: Any, n_intents: int) -> str | None:
    if not isinstance(document, dict) or set(document) != {"intent", "parameters", "cached", "descriptor"}:
        return f"expected keys intent/parameters/cached/descriptor, got {_keys(document)}"
    if document["intent"] != "bench_render" or document["parameters"] != PROCESS_PARAMETERS:
        return f"not bench_render with the message's parameters: {document!r:.300}"
    if not isinstance(document["cached"], bool):
        return "cached is not a boolean"
    descriptor = document["descriptor"]
    props = descriptor.get("record", {}).get("props") if isinstance(descriptor, dict) else None
    if props != PROCESS_PARAMETERS:
        return f"descriptor.record.props is not the parameters: {props!r:.300}"
    return None


def _keys(document: Any) -> object:
    return sorted(document) if isinstance(document, dict) else type(document).__name__


CHECKS: dict[str, Callable[[Any, int], str | None]] = {
    "intents": check_intents,
    "render": check_render,
    "invalid-render": check_invalid_render,
    "process": check_process,
}


def request(conn: http.client.HTTPConnection, endpoint: Endpoint) -> tuple[int, str, bytes]:
    reply = harness.send(conn, endpoint.method, endpoint.path, endpoint.body)
    return reply.status, reply.headers.get("content-type", ""), reply.body


def pre_run(port: int, endpoint: Endpoint, n_intents: int, target: str) -> bytes:
    """Send PRE_RUN_REQUESTS requests on one keep-alive connection; every one must be a good 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = b""
        for _ in range(PRE_RUN_REQUESTS):
            status, content_type, body = request(conn, endpoint)
            where = f"{target} {endpoint.method} {endpoint.path}"
            if status != endpoint.status:
                raise BenchError(f"{where}: HTTP {status} (expected {endpoint.status}): {body[:300]!r}")
            if not content_type.startswith("application/json"):
                raise BenchError(f"{where}: content-type {content_type!r}, expected application/json")
            problem = CHECKS[endpoint.name](json.loads(body), n_intents)
            if problem is not None:
                raise BenchError(f"{where}: unexpected body: {problem}")
        return body
    finally:
        conn.close()


_VOLATILE = re.compile(rb'"(timestamp|requestId)":"[^"]*"')


def same_bytes(a: bytes, b: bytes) -> bool:
    """Equal bodies, ignoring the values of `timestamp` (the registry load time or NOW) and of an
    error's `requestId`."""
    return _VOLATILE.sub(rb'"\1":""', a) == _VOLATILE.sub(rb'"\1":""', b)


def write_lua(endpoint: Endpoint, directory: Path) -> Path | None:
    if endpoint.method == "GET":
        return None
    return harness.write_lua(
        directory / f"{endpoint.name}.lua",
        endpoint.method,
        endpoint.body.decode(),
        {"Content-Type": "application/json"},
    )


# -- one measurement ------------------------------------------------------------------------------


@dataclass
class Measurement:
    target: str
    endpoint: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float
    requests: int
    cpu_s: float
    seconds: float
    wrk_cpu_s: float
    other_cpu_s: float  # every other process on the machine during the run: noise if large
    rps_vs_ceiling: float | None = None
    cpu_vs_ceiling: float | None = None


@dataclass(frozen=True)
class Config:
    duration: float
    warmup: float
    connections: int
    repeat: int
    n_intents: int
    quiet_wait: float
    targets: tuple[str, ...] = tuple(t.name for t in TARGETS)


def measure(
    process: subprocess.Popen[bytes],
    port: int,
    target: str,
    endpoint: Endpoint,
    lua: Path | None,
    config: Config,
) -> Measurement:
    """Warm up, then one wrk run with the server's CPU time read before and after."""
    url = f"http://127.0.0.1:{port}{endpoint.path}"
    harness.run_wrk(url, config.warmup, config.connections, lua)
    if config.quiet_wait > 0:
        harness.wait_until_quiet(config.quiet_wait)
    result, cpu = harness.measure_cpu(
        process.pid, lambda: harness.run_wrk(url, config.duration, config.connections, lua)
    )
    where = f"{target} {endpoint.method} {endpoint.path}"
    harness.check_load(result, where, allow_non_2xx=endpoint.status >= 400)
    if endpoint.status >= 400 and result.non_2xx < result.requests:
        raise BenchError(f"{where}: {result.requests - result.non_2xx} responses were not errors")
    cpu_s = cpu.server_s
    return Measurement(
        target=target,
        endpoint=endpoint.name,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us_per_req=cpu_s * 1e6 / result.requests,
        requests=result.requests,
        cpu_s=cpu_s,
        seconds=result.seconds,
        wrk_cpu_s=cpu.client_s,
        other_cpu_s=cpu.other_s,
    )


def bench_target(
    target: Target, config: Config, env: dict[str, str], work: Path, reference: dict[str, bytes]
) -> list[Measurement]:
    port = harness.free_port()
    results = []
    log_path = work / f"{target.name}.log"
    with harness.server(target.name, target.argv(port), port, env, log_path) as process:
        for endpoint in endpoints_of(target.name):
            body = pre_run(port, endpoint, config.n_intents, target.name)
            if target.ixp_bytes:
                check_same_bytes(target.name, endpoint, body, reference)
            lua = write_lua(endpoint, work)
            results.append(measure(process, port, target.name, endpoint, lua, config))
    return results


def check_same_bytes(target: str, endpoint: Endpoint, body: bytes, reference: dict[str, bytes]) -> None:
    """ixp on either interface and the ceiling must send the very same body (timestamp aside)."""
    expected = reference.setdefault(endpoint.name, body)
    if not same_bytes(body, expected):
        raise BenchError(f"{target} {endpoint.path}: body differs from the other ixp/ceiling targets")


# -- the run --------------------------------------------------------------------------------------


def run(config: Config, work: Path) -> list[Measurement]:
    intents_path, components_path = write_registry(work / "registry", config.n_intents)
    env = harness.server_env({"IXP_INTENTS": str(intents_path), "IXP_COMPONENTS": str(components_path)})
    reference: dict[str, bytes] = {}
    rounds: list[list[Measurement]] = []
    for round_index in range(config.repeat):
        targets = selected(config)
        shift = round_index % len(targets)  # interleave: each round starts with the next target
        for target in targets[shift:] + targets[:shift]:
            print(f"[round {round_index + 1}/{config.repeat}] {target.name} ...", file=sys.stderr, flush=True)
            rounds.append(bench_target(target, config, env, work, reference))
    return add_ratios(median_over_rounds([m for batch in rounds for m in batch], selected(config)))


def selected(config: Config) -> tuple[Target, ...]:
    return tuple(t for t in TARGETS if t.name in config.targets)


MEDIAN_FIELDS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "cpu_s", "seconds", "wrk_cpu_s", "other_cpu_s")


def median_over_rounds(measurements: list[Measurement], targets: tuple[Target, ...]) -> list[Measurement]:
    """One row per target and endpoint (the median of each number over the rounds), in TARGETS order."""
    rows = []
    for target in targets:
        for endpoint in endpoints_of(target.name):
            runs = [m for m in measurements if m.target == target.name and m.endpoint == endpoint.name]
            medians = {f: statistics.median(getattr(m, f) for m in runs) for f in MEDIAN_FIELDS}
            requests = statistics.median_low(m.requests for m in runs)
            rows.append(Measurement(target.name, endpoint.name, requests=requests, **medians))
    return rows


def add_ratios(rows: list[Measurement]) -> list[Measurement]:
    ceiling = {m.endpoint: m for m in rows if m.target == CEILING}
    for row in rows:
        top = ceiling.get(row.endpoint)
        if top is None:
            continue
        row.rps_vs_ceiling = row.rps / top.rps
        row.cpu_vs_ceiling = row.cpu_us_per_req / top.cpu_us_per_req if top.cpu_us_per_req else None
    return rows


def ceiling_rps(rows: list[Measurement], endpoint: str) -> float:
    return next(m.rps for m in rows if m.target == CEILING and m.endpoint == endpoint)


def verdicts(rows: list[Measurement]) -> list[dict[str, Any]]:
    by_key = {(m.target, m.endpoint): m for m in rows}
    if ("ixp-rsgi", "render") not in by_key:
        return []  # --targets without ixp-rsgi: no verdicts
    render, intents = by_key[("ixp-rsgi", "render")], by_key[("ixp-rsgi", "intents")]
    checks = [
        (
            "render req/s >= 85% of ceiling",
            render.rps / ceiling_rps(rows, "render"),
            TARGET_RENDER_RPS_RATIO,
            True,
        ),
        ("render server CPU <= 35 us/req", render.cpu_us_per_req, TARGET_RENDER_CPU_US, False),
        (
            "intents req/s >= 90% of ceiling",
            intents.rps / ceiling_rps(rows, "intents"),
            TARGET_INTENTS_RPS_RATIO,
            True,
        ),
    ]
    invalid = by_key.get(("ixp-rsgi", "invalid-render"))
    if invalid is not None:
        ratio = invalid.rps / render.rps
        name = "invalid render req/s >= 85% of valid render"
        checks.append((name, ratio, TARGET_INVALID_RENDER_RATIO, True))
    process = by_key.get(("ixp-rsgi", "process"))
    if process is not None:
        name = "process (match cache hit, no userId) req/s >= 85% of valid render"
        checks.append((name, process.rps / render.rps, TARGET_PROCESS_RATIO, True))
    return [
        {
            "target": name,
            "value": value,
            "limit": limit,
            "met": value >= limit if at_least else value <= limit,
        }
        for name, value, limit, at_least in checks
    ]


def table(rows: list[Measurement]) -> str:
    header = (
        "target",
        "endpoint",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU us/req",
        "req/s/ceil",
        "CPU/ceil",
        "other CPU",
    )
    rows_text = [
        (
            m.target,
            m.endpoint,
            f"{m.rps:,.0f}",
            f"{m.p50_ms:.2f}",
            f"{m.p99_ms:.2f}",
            f"{m.cpu_us_per_req:.1f}",
            f"{m.rps_vs_ceiling:.2f}" if m.rps_vs_ceiling is not None else "-",
            f"{m.cpu_vs_ceiling:.2f}" if m.cpu_vs_ceiling is not None else "-",
            f"{100 * m.other_cpu_s / m.seconds:.0f}%",
        )
        for m in rows
    ]
    return harness.markdown_table(header, rows_text)


def noise_warning(rows: list[Measurement]) -> str | None:
    return harness.noise_warning((f"{m.target} {m.endpoint}", m.other_cpu_s / m.seconds) for m in rows)


# -- in-process profile of the request path ---------------------------------------------------------


class FakeScope:
    """What `__rsgi__` reads from Granian's scope; `headers` only needs `.get`."""

    proto = "http"
    query_string = ""
    client = "127.0.0.1"
    scheme = "http"

    def __init__(self, endpoint: Endpoint) -> None:
        self.method = endpoint.method
        self.path = endpoint.path
        self.headers: dict[str, str] = {"host": "127.0.0.1:8000", "user-agent": "wrk", "accept": "*/*"}
        if endpoint.body:
            self.headers |= {"content-type": "application/json", "content-length": str(len(endpoint.body))}


class FakeProto:
    """Granian's RSGI protocol object, reduced to what a buffered request/response uses."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 0

    async def __call__(self) -> bytes:
        return self.body

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status


async def _loop_rsgi(app: Any, endpoint: Endpoint, n: int) -> float:
    scope, proto = FakeScope(endpoint), FakeProto(endpoint.body)
    await app.__rsgi__(scope, proto)
    if proto.status != endpoint.status:
        raise BenchError(f"in-process {endpoint.method} {endpoint.path} answered {proto.status}")
    started = time.thread_time()  # CPU time: other processes on a busy machine do not count
    for _ in range(n):
        await app.__rsgi__(scope, proto)
    return (time.thread_time() - started) * 1e6 / n


def profile(config: Config, work: Path, n: int) -> None:
    """Python-side cost of one request (no Granian, no sockets) for ixp and the ceiling, then cProfile."""
    import asyncio
    import importlib
    import logging

    intents_path, components_path = write_registry(work / "registry", config.n_intents)
    os.environ |= {"IXP_INTENTS": str(intents_path), "IXP_COMPONENTS": str(components_path)}
    sys.path.insert(0, str(ROOT))
    logging.disable(logging.WARNING)
    ixp_app = importlib.import_module("ixp.app").create_app()
    ceiling = importlib.import_module("bench.baselines.ceiling_app").app
    asyncio.run(_profile(ixp_app, ceiling, n))


async def _profile(ixp_app: Any, ceiling: Any, n: int) -> None:
    import cProfile
    import pstats

    await ixp_app.startup()  # what Granian's __rsgi_init__ does
    try:
        print(f"in-process __rsgi__ CPU time, {n} requests each (no Granian, no sockets, no HTTP parsing):")
        for endpoint in ENDPOINTS:
            ours = await _loop_rsgi(ixp_app, endpoint, n)
            if endpoint.ixp_only:
                print(f"  {endpoint.name:14} ixp {ours:6.2f} us")
                continue
            floor = await _loop_rsgi(ceiling, endpoint, n)
            extra = ours - floor
            print(f"  {endpoint.name:14} ixp {ours:6.2f} us   ceiling {floor:5.2f} us   extra {extra:5.2f}")
        render = next(e for e in ENDPOINTS if e.name == "render")
        profiler = cProfile.Profile()
        profiler.enable()
        await _loop_rsgi(ixp_app, render, n)
        profiler.disable()
    finally:
        await ixp_app.shutdown()
    print("\ncProfile of ixp POST /ixp/render (per request; the profiler inflates small calls):")
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    print(f"  {'own us':>7} {'cum us':>7} {'calls/req':>9}  function")
    for (filename, line, name), (_, calls, own, cumulative, _) in sorted(
        stats.items(), key=lambda item: item[1][2], reverse=True
    )[:PROFILE_ROWS]:
        where = f"{Path(filename).name}:{line}" if line else filename
        print(f"  {own * 1e6 / n:7.2f} {cumulative * 1e6 / n:7.2f} {calls / n:9.2f}  {name} ({where})")


def environment() -> dict[str, Any]:
    packages = ("granian", "msgspec", "fastapi", "pydantic", "uvicorn", "uvloop", "httptools")
    system = harness.machine()
    return {
        "python": system.pop("python"),
        "packages": harness.package_versions(packages),
        "wrk": harness.tool_banner(["wrk", "--version"]),
        **system,
    }


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10, --quick 3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--quick", action="store_true", help="3 s runs and 1 s warm-up")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved; medians reported")
    parser.add_argument("--intents", type=int, default=50, help="registry size (default 50)")
    names = [t.name for t in TARGETS]
    parser.add_argument(
        "--targets", default=",".join(names), metavar="A,B",
        help=f"comma-separated subset of {', '.join(names)} (the ceiling is always run)",
    )  # fmt: skip
    parser.add_argument(
        "--quiet-wait", type=float, default=0.0, metavar="S",
        help="before each measured run, wait up to S s for other processes to go below 20%% of a core",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, nargs="?", const=20_000, metavar="N",
        help="no HTTP: time N in-process requests through ixp's and the ceiling's __rsgi__, then cProfile",
    )  # fmt: skip
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
    if duration < 1 or args.connections < 1 or args.repeat < 1 or args.intents < 1:
        parser.error("--duration must be >= 1 s; --connections, --repeat and --intents >= 1")
    warmup = 1.0 if args.quick else 2.0
    wanted = {name.strip() for name in args.targets.split(",") if name.strip()} | {CEILING}
    unknown = wanted - set(names)
    if unknown:
        parser.error(f"--targets: unknown {', '.join(sorted(unknown))}; choose from {', '.join(names)}")
    targets = tuple(name for name in names if name in wanted)
    return args, Config(
        duration, warmup, args.connections, args.repeat, args.intents, max(0.0, args.quiet_wait), targets
    )


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="ixp-http-profile-") as tmp:
            profile(config, Path(tmp), args.profile)
        return 0
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ixp-http-bench-") as tmp:
        try:
            rows = run(config, Path(tmp))
        except BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
    command = "python bench/http_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\n$ {command.strip()}   ({time.monotonic() - started:.0f} s)\n")
    print(table(rows))
    warning = noise_warning(rows)
    if warning:
        print("\n" + warning)
    results = verdicts(rows)
    print()
    for v in results:
        verdict = "MET   " if v["met"] else "MISSED"
        print(f"{verdict} ixp-rsgi {v['target']}: {v['value']:.2f} (limit {v['limit']})")
    harness.report("http_bench", command.strip(), config, environment(), rows, targets=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
