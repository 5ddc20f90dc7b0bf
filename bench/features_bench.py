"""What ixp's HTTP features cost: gzip on and off, HTTP/1.1 and HTTP/2, in server CPU per request.

    python bench/features_bench.py [--duration S] [--quick] [--connections N] [--repeat R]

The two endpoints of bench/http_bench.py (`GET /ixp/intents`, `POST /ixp/render`, same generated
50-intent registry), on `granian --interface rsgi --workers 1 ixp.app:app` started three times:
default settings, `IXP_COMPRESSION_MIN_BYTES=0` (the ~0.9 KB render body is under the default
1 KB threshold, so only this way is it gzipped) and `IXP_COMPRESSION=false`. HTTP/1.1 runs use wrk;
the HTTP/2 comparison uses h2load for both sides (`--h1` against h2c with prior knowledge), so the
pair differs only in the protocol. Each row's server CPU µs per request is compared with its
baseline row. See bench/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:  # `python -m bench.features_bench` from the repository root
    from bench import harness
    from bench.http_bench import CHECKS, ENDPOINTS, Endpoint
    from bench.registry_gen import write_registry
except ImportError:  # `python bench/features_bench.py`: this directory is on sys.path
    import harness  # type: ignore[no-redef,import-not-found]
    from http_bench import CHECKS, ENDPOINTS, Endpoint  # type: ignore[no-redef,import-not-found]
    from registry_gen import write_registry  # type: ignore[no-redef,import-not-found]

N_INTENTS = 50
WARMUP_S = 1.0  # before every measured run (the server has served the other rows already)
GZIP = {"Accept-Encoding": "gzip"}


@dataclass(frozen=True)
class Server:
    name: str
    settings: dict[str, str]


SERVERS = (
    Server("default", {}),
    Server("min0", {"IXP_COMPRESSION_MIN_BYTES": "0"}),
    Server("off", {"IXP_COMPRESSION": "false"}),
)


@dataclass(frozen=True)
class Row:
    name: str
    server: str
    tool: str  # "wrk", "h2load-h1" or "h2load-h2c"
    gzip: bool  # the client sends Accept-Encoding: gzip
    baseline: str | None
    meaning: str


ROWS = (
    Row("h1 plain", "default", "wrk", False, None, "HTTP/1.1 (wrk), no Accept-Encoding: the baseline"),
    Row("h1 gzip", "default", "wrk", True, "h1 plain", "HTTP/1.1, Accept-Encoding: gzip, default settings"),
    Row(
        "h1 gzip min0",
        "min0",
        "wrk",
        True,
        "h1 plain",
        "HTTP/1.1, Accept-Encoding: gzip, IXP_COMPRESSION_MIN_BYTES=0 (render gzipped per request)",
    ),
    Row(
        "h1 gzip off",
        "off",
        "wrk",
        True,
        "h1 plain",
        "HTTP/1.1, Accept-Encoding: gzip, IXP_COMPRESSION=false (asked, not given)",
    ),
    Row("h2load h1", "default", "h2load-h1", False, None, "HTTP/1.1 with h2load --h1: the HTTP/2 baseline"),
    Row(
        "h2load h2c",
        "default",
        "h2load-h2c",
        False,
        "h2load h1",
        "HTTP/2 cleartext (prior knowledge), h2load",
    ),
)


# -- checks ---------------------------------------------------------------------------------------


def pre_check(port: int, row: Row, endpoint: Endpoint) -> tuple[bool, int]:
    """One HTTP/1.1 request as the row sends it: a good 200, gzipped exactly when the server's
    settings say so. Returns (gzipped, body bytes on the wire)."""
    headers = GZIP if row.gzip else {}
    reply = harness.call(port, endpoint.method, endpoint.path, endpoint.body, headers)
    where = f"{row.name} {endpoint.method} {endpoint.path}"
    if reply.status != 200:
        raise harness.BenchError(f"{where}: HTTP {reply.status}: {reply.body[:300]!r}")
    gzipped = reply.headers.get("content-encoding") == "gzip"
    must = {"min0": row.gzip, "off": False}.get(row.server, row.gzip and endpoint.name == "intents")
    if gzipped != must:
        raise harness.BenchError(f"{where}: gzip {'expected' if must else 'not expected'}")
    body = gzip.decompress(reply.body) if gzipped else reply.body
    problem = CHECKS[endpoint.name](json.loads(body), N_INTENTS)
    if problem is not None:
        raise harness.BenchError(f"{where}: unexpected body: {problem}")
    return gzipped, len(reply.body)


def check_protocol(result: harness.LoadResult, row: Row, where: str) -> None:
    if row.tool == "wrk":
        return
    expected = "h2c" if row.tool == "h2load-h2c" else "http/1.1"
    if f"Application protocol: {expected}" not in result.output:
        raise harness.BenchError(f"{where}: h2load did not use {expected}:\n{result.output}")


# -- one measurement ------------------------------------------------------------------------------


@dataclass
class Measurement:
    row: str
    endpoint: str
    gzipped: bool
    wire_bytes: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float
    requests: int
    cpu_s: float
    seconds: float
    client_cpu_s: float
    other_cpu_s: float
    cpu_spread_us: float | None = None  # max - min of CPU us/req over the rounds
    delta_us: float | None = None  # CPU us/req minus the baseline row's


@dataclass(frozen=True)
class Config:
    duration: float
    warmup: float
    connections: int
    repeat: int
    quiet_wait: float


def load(
    row: Row, port: int, endpoint: Endpoint, seconds: float, config: Config, work: Path
) -> harness.LoadResult:
    url = f"http://127.0.0.1:{port}{endpoint.path}"
    headers = GZIP if row.gzip else {}
    if row.tool == "wrk":
        lua = None
        if endpoint.body:
            lua = harness.write_lua(
                work / f"{endpoint.name}.lua",
                "POST",
                endpoint.body.decode(),
                {"Content-Type": "application/json"},
            )
        return harness.run_wrk(url, seconds, config.connections, lua, headers)
    body = None
    if endpoint.body:
        body = work / f"{endpoint.name}.json"
        body.write_bytes(endpoint.body)
        headers = {**headers, "Content-Type": "application/json"}
    return harness.run_h2load(
        url, seconds, config.connections, work, http1=row.tool == "h2load-h1", body=body, headers=headers
    )


def measure(pid: int, port: int, row: Row, endpoint: Endpoint, config: Config, work: Path) -> Measurement:
    gzipped, wire_bytes = pre_check(port, row, endpoint)
    where = f"{row.name} {endpoint.method} {endpoint.path}"
    tool = "wrk" if row.tool == "wrk" else "h2load"
    harness.check_load(load(row, port, endpoint, config.warmup, config, work), f"{where} warm-up", tool)
    if config.quiet_wait > 0:
        harness.wait_until_quiet(config.quiet_wait)
    result, cpu = harness.measure_cpu(pid, lambda: load(row, port, endpoint, config.duration, config, work))
    harness.check_load(result, where, tool)
    check_protocol(result, row, where)
    return Measurement(
        row=row.name,
        endpoint=endpoint.name,
        gzipped=gzipped,
        wire_bytes=wire_bytes,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us_per_req=cpu.server_s * 1e6 / result.requests,
        requests=result.requests,
        cpu_s=cpu.server_s,
        seconds=result.seconds,
        client_cpu_s=cpu.client_s,
        other_cpu_s=cpu.other_s,
    )


# -- the run --------------------------------------------------------------------------------------


def bench_server(server: Server, config: Config, env: dict[str, str], work: Path) -> list[Measurement]:
    port = harness.free_port()
    argv = harness.granian_argv("rsgi", "ixp.app:app", port)
    rows = []
    server_env = {**env, **server.settings}
    with harness.server(
        f"ixp ({server.name})", argv, port, server_env, work / f"{server.name}.log"
    ) as process:
        for row in (r for r in ROWS if r.server == server.name):
            for endpoint in ENDPOINTS:
                print(f"  {row.name} {endpoint.name} ...", file=sys.stderr, flush=True)
                rows.append(measure(process.pid, port, row, endpoint, config, work))
    return rows


def run(config: Config, work: Path) -> list[Measurement]:
    intents_path, components_path = write_registry(work / "registry", N_INTENTS)
    env = harness.server_env(
        {
            "IXP_INTENTS": str(intents_path),
            "IXP_COMPONENTS": str(components_path),
            "IXP_SQLITE_PATH": str(work / "ixp.db"),
        }
    )
    for name in ("IXP_COMPRESSION", "IXP_COMPRESSION_MIN_BYTES", "IXP_COMPRESSION_LEVEL", "IXP_HTTP"):
        env.pop(name, None)  # the defaults, whatever the shell says
    measurements: list[Measurement] = []
    for round_index in range(config.repeat):
        shift = round_index % len(SERVERS)  # interleave: each round starts with the next server
        for server in SERVERS[shift:] + SERVERS[:shift]:
            print(f"[round {round_index + 1}/{config.repeat}] {server.name} ...", file=sys.stderr, flush=True)
            measurements += bench_server(server, config, env, work)
    return add_deltas(medians(measurements))


MEDIAN_FIELDS = (
    "rps",
    "p50_ms",
    "p99_ms",
    "cpu_us_per_req",
    "cpu_s",
    "seconds",
    "client_cpu_s",
    "other_cpu_s",
)


def medians(measurements: Sequence[Measurement]) -> list[Measurement]:
    """One row per (row, endpoint), in ROWS order: the median of each number over the rounds."""
    out = []
    for row in ROWS:
        for endpoint in ENDPOINTS:
            runs = [m for m in measurements if m.row == row.name and m.endpoint == endpoint.name]
            values = {f: statistics.median(getattr(m, f) for m in runs) for f in MEDIAN_FIELDS}
            first = runs[0]
            requests = statistics.median_low(m.requests for m in runs)
            cpu = [m.cpu_us_per_req for m in runs]
            spread = max(cpu) - min(cpu) if len(runs) > 1 else None
            out.append(
                Measurement(
                    row.name,
                    endpoint.name,
                    first.gzipped,
                    first.wire_bytes,
                    requests=requests,
                    cpu_spread_us=spread,
                    **values,
                )
            )
    return out


def add_deltas(rows: list[Measurement]) -> list[Measurement]:
    by_key = {(m.row, m.endpoint): m for m in rows}
    baseline_of = {r.name: r.baseline for r in ROWS}
    for m in rows:
        baseline = baseline_of[m.row]
        if baseline is not None:
            m.delta_us = m.cpu_us_per_req - by_key[(baseline, m.endpoint)].cpu_us_per_req
    return rows


# -- output ---------------------------------------------------------------------------------------


def table(rows: Sequence[Measurement]) -> str:
    header = (
        "feature", "endpoint", "gzip", "bytes", "req/s", "p50 ms", "p99 ms", "CPU us/req", "spread",
        "delta us/req", "other CPU",
    )  # fmt: skip
    lines = [
        (
            m.row,
            m.endpoint,
            "yes" if m.gzipped else "no",
            f"{m.wire_bytes:,}",
            f"{m.rps:,.0f}",
            f"{m.p50_ms:.2f}",
            f"{m.p99_ms:.2f}",
            f"{m.cpu_us_per_req:.1f}",
            f"{m.cpu_spread_us:.1f}" if m.cpu_spread_us is not None else "-",
            f"{m.delta_us:+.1f}" if m.delta_us is not None else "(base)",
            harness.percent(m.other_cpu_s, m.seconds),
        )
        for m in rows
    ]
    return harness.markdown_table(header, lines, left=3)


def legend() -> str:
    lines = [f"  {r.name:<13} {r.meaning}" + (f"; delta vs {r.baseline}" if r.baseline else "") for r in ROWS]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    return {
        **harness.machine(),
        "packages": harness.package_versions(("granian", "msgspec")),
        "wrk": harness.tool_banner(["wrk", "--version"]),
        "h2load": harness.tool_banner(["h2load", "--version"]),
    }


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 5, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="one round of 3 s runs")
    parser.add_argument("--connections", type=int, default=32, help="connections (default 32)")
    parser.add_argument(
        "--repeat", type=int, help="rounds, interleaved; medians reported (default 3, --quick 1)"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=0.0, metavar="S",
        help="before each measured run, wait up to S s for other processes to go below 20%% of a core",
    )  # fmt: skip
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 5.0)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if duration < 1 or args.connections < 1 or repeat < 1:
        parser.error("--duration must be >= 1 s; --connections and --repeat >= 1")
    return Config(duration, WARMUP_S, args.connections, repeat, max(0.0, args.quiet_wait))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    missing = [tool for tool in ("wrk", "h2load") if shutil.which(tool) is None]
    if missing:
        print(
            f"error: {' and '.join(missing)} not installed (apt-get install wrk nghttp2-client)",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ixp-features-bench-") as tmp:
        try:
            rows = run(config, Path(tmp))
        except harness.BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
    command = harness.command_line("features_bench.py", argv)
    print(f"\n$ {command}   ({time.monotonic() - started:.0f} s)\n")
    print(table(rows))
    print("\n" + legend())
    warning = harness.noise_warning((f"{m.row} {m.endpoint}", m.other_cpu_s / m.seconds) for m in rows)
    if warning:
        print("\n" + warning)
    harness.report("features_bench", command, config, environment(), rows, rows=[asdict(r) for r in ROWS])
    return 0


if __name__ == "__main__":
    sys.exit(main())
