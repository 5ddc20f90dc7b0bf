"""What the HTTP benchmarks share: servers on free loopback ports, CPU time from /proc, wrk and h2load
runs, Lua scripts, quiet-machine waits and result tables.

CPU accounting: a measured run reads the utime + stime of the server process **and all its
descendants** (Granian's workers) before and after, the CPU of this process's reaped children (the
load generator), optionally of other process trees (PostgreSQL, Redis), and the machine's busy time
from /proc/stat; whatever is left is "other" CPU, i.e. noise from unrelated processes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
NOISE_CORES = 0.2  # other processes' CPU during a run, in cores, above which the run is flagged
WRK_TIMEOUT = "5s"

T = TypeVar("T")


class BenchError(RuntimeError):
    """A run that cannot be trusted (wrong responses, errors, a server that did not start)."""


# -- plain HTTP calls -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request on a (keep-alive) connection; a body is sent as JSON unless headers say otherwise."""
    sent = {"content-type": "application/json"} if body else {}
    sent |= AUTH
    sent |= dict(headers or {})
    conn.request(method, path, body=body or None, headers=sent)
    response = conn.getresponse()
    names = {name.lower(): value for name, value in response.getheaders()}
    return Reply(response.status, names, response.read())


def call(
    port: int, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Reply:
    """One request on a fresh connection to 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        return send(conn, method, path, body, headers)
    finally:
        conn.close()


def get_json(port: int, path: str) -> Any:
    reply = call(port, "GET", path)
    if reply.status != 200:
        raise BenchError(f"GET {path}: HTTP {reply.status}: {reply.body[:300]!r}")
    return reply.json()


# -- server processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def granian_argv(interface: str, app: str, port: int, *extra: str) -> list[str]:
    """Granian with one worker on 127.0.0.1:`port` (`extra` flags before the app)."""
    return [
        sys.executable, "-m", "granian", "--interface", interface, "--workers", "1", "--no-ws",
        "--log-level", "warning", "--host", "127.0.0.1", "--port", str(port), *extra, app,
    ]  # fmt: skip


def _bench_key() -> tuple[str, str]:
    from ixp.http.access import digest_of, new_key

    key = new_key()
    return key, f"bench {digest_of(key)} users:read,users:write,sessions:write,metrics:read"


# One API key per benchmark run: the servers are given its digest (IXP_API_KEYS), the clients
# send it (the users API and processing with a userId need one; README, "Security").
API_KEY, API_KEY_LINE = _bench_key()
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def server_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, the repository root on PYTHONPATH, the run's API key, then
    `overrides`."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # A fixed hash seed: string hashes (dict probing) no longer differ from run to run, one of the
    # causes of instruction counts moving between runs of the same code.
    seed = os.environ.get("PYTHONHASHSEED", "0")
    env = {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": seed, "IXP_API_KEYS": API_KEY_LINE}
    env.setdefault("IXP_DRAIN_SECONDS", "0")  # servers are stopped by SIGTERM: no drain period
    return {**env, **(overrides or {})}


def _answers(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def server(
    name: str,
    argv: list[str],
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    ready_path: str = "/ixp/intents",
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv` (listening on `port`), wait (bounded) until `GET ready_path` answers there, and
    always stop it afterwards."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _answers(port, ready_path):
                if process.poll() is not None:
                    raise BenchError(f"{name} exited with {process.returncode}:\n{tail(log_path)}")
                if time.monotonic() > deadline:
                    raise BenchError(f"{name} did not answer within {START_TIMEOUT_S:.0f} s")
                time.sleep(0.1)
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a bounded wait, then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# -- CPU time -------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (threads' children included), from /proc."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:  # exited meanwhile
            continue
        for task in tasks:
            with contextlib.suppress(OSError), open(f"/proc/{current}/task/{task}/children") as children:
                queue.extend(int(child) for child in children.read().split())
    return pids


def cpu_ticks(pids: Iterable[int]) -> dict[int, int]:
    """utime + stime (clock ticks, all threads) of each live pid."""
    ticks = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks[pid] = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks


def trees_ticks(roots: Iterable[int]) -> dict[int, int]:
    return cpu_ticks(pid for root in roots for pid in process_tree(root))


def _delta_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / CLK_TCK


def busy_seconds() -> float:
    """CPU time all cores spent on anything but idle/iowait since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK  # user nice system idle iowait irq softirq steal


def children_cpu_seconds() -> float:
    """CPU time of this process's reaped children (the wrk / h2load runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuUsage:
    server_s: float  # the server process tree
    client_s: float  # the load generator (this process's children reaped during the run)
    services_s: float  # the `services` process trees (e.g. PostgreSQL, Redis)
    other_s: float  # everything else on the machine: noise


def measure_cpu(pid: int, run: Callable[[], T], services: Sequence[int] = ()) -> tuple[T, CpuUsage]:
    """`run()` with the CPU time of the server tree `pid`, of the load generator, of the `services`
    trees and of the rest of the machine read around it."""
    server_before, services_before = trees_ticks([pid]), trees_ticks(services)
    busy_before, client_before = busy_seconds(), children_cpu_seconds()
    result = run()
    busy, client_s = busy_seconds() - busy_before, children_cpu_seconds() - client_before
    server_s = _delta_seconds(server_before, trees_ticks([pid]))
    services_s = _delta_seconds(services_before, trees_ticks(services))
    other_s = max(0.0, busy - server_s - client_s - services_s)
    return result, CpuUsage(server_s, client_s, services_s, other_s)


def wait_until_quiet(max_wait: float, window: float = 0.5) -> None:
    """Wait (at most `max_wait` s) until the machine's busy CPU, the idle server included, drops
    below NOISE_CORES over `window` seconds."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        before = busy_seconds()
        time.sleep(window)
        if (busy_seconds() - before) / window < NOISE_CORES:
            return
    print(f"  machine still busy after {max_wait:.0f} s; measuring anyway", file=sys.stderr, flush=True)


def noise_warning(
    shares: Iterable[tuple[str, float]], advice: str = "re-run on a quiet machine or use --repeat"
) -> str | None:
    """A warning naming the noisiest run if another process used over NOISE_CORES during it;
    `shares` are (run label, other CPU in cores)."""
    label, share = max(shares, key=lambda item: item[1], default=("", 0.0))
    if share < NOISE_CORES:
        return None
    return (
        f"WARNING: other processes used up to {100 * share:.0f}% of a core during a run "
        f"({label}); the numbers are noisy, {advice}"
    )


# -- load generators ------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    output: str = ""  # the tool's report (wrk: with whatever the Lua `done` printed)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise BenchError(f"cannot parse wrk latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def _find(pattern: str, output: str, tool: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise BenchError(f"cannot find {pattern!r} in {tool} output:\n{output}")
    return match


def parse_wrk(output: str) -> LoadResult:
    done = _find(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", output, "wrk")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return LoadResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        rps=float(_find(r"^Requests/sec:\s+([\d.]+)", output, "wrk").group(1)),
        p50_ms=_ms(_find(r"^\s+50%\s+(\S+)", output, "wrk").group(1)),
        p99_ms=_ms(_find(r"^\s+99%\s+(\S+)", output, "wrk").group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        output=output,
    )


def run_wrk(
    url: str,
    seconds: float,
    connections: int,
    lua: Path | None = None,
    headers: Mapping[str, str] | None = None,
    script_args: Sequence[str] = (),
) -> LoadResult:
    """`wrk -t1 -cN -dSs --latency --timeout 5s [-H ...] [-s lua] url [-- script_args]` (bounded by
    a timeout); `script_args` go to the Lua `init(args)`."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    argv += ["--timeout", WRK_TIMEOUT]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if lua is not None:
        argv += ["-s", str(lua)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if completed.returncode != 0:
        raise BenchError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    return parse_wrk(completed.stdout)


def check_load(result: LoadResult, where: str, tool: str = "wrk", allow_non_2xx: bool = False) -> None:
    """Abort on non-2xx responses (unless allowed), socket errors, or nothing completed."""
    if result.non_2xx and not allow_non_2xx:
        raise BenchError(f"{where}: {tool} saw {result.non_2xx} non-2xx/3xx responses")
    if result.socket_errors:
        raise BenchError(f"{where}: {tool} saw {result.socket_errors} socket errors")
    if result.requests == 0:
        raise BenchError(f"{where}: no request completed")


def _percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def parse_h2load(output: str, latencies_us: list[float]) -> LoadResult:
    """h2load's summary plus the per-request latencies of its `--log-file` (µs)."""
    finished = _find(r"^finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req/s", output, "h2load")
    counts = _find(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded", output, "h2load")
    failed = _find(r"(\d+) failed, (\d+) errored, (\d+) timeout", output, "h2load")
    status = _find(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output, "h2load")
    ordered = sorted(latencies_us)
    if not ordered:
        raise BenchError(f"h2load logged no request:\n{output}")
    return LoadResult(
        requests=int(counts.group(3)),
        seconds=_ms(finished.group(1) + finished.group(2)) / 1000,
        rps=float(finished.group(3)),
        p50_ms=_percentile(ordered, 50) / 1000,
        p99_ms=_percentile(ordered, 99) / 1000,
        non_2xx=int(status.group(2)) + int(status.group(3)) + int(status.group(4)),
        socket_errors=sum(int(n) for n in failed.groups()),
        output=output,
    )


def run_h2load(
    url: str,
    seconds: float,
    connections: int,
    work: Path,
    *,
    http1: bool = False,
    body: Path | None = None,
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """`h2load -t1 -cN -m1 -D S` over h2c with prior knowledge, or HTTP/1.1 with `http1`;
    POSTs the file `body` if given. Latency percentiles come from h2load's log file. (No
    `--warm-up-time`: its requests would cost server CPU but not be counted; warm up with a run.)"""
    log = work / "h2load.log"
    argv = ["h2load", "-t1", f"-c{connections}", "-m1", "-D", str(max(1, round(seconds)))]
    argv += ["--log-file", str(log), *(["--h1"] if http1 else [])]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if body is not None:
        argv += ["-d", str(body)]
    argv.append(url)
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if completed.returncode != 0:
        raise BenchError(f"h2load failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    latencies = [float(line.split("\t")[2]) for line in log.read_text().splitlines() if line.count("\t") >= 2]
    return parse_h2load(completed.stdout, latencies)


# -- Lua scripts for wrk --------------------------------------------------------------------------


def lua_string(text: str) -> str:
    """`text` as a Lua long string, with a bracket level that does not occur in it (Lua drops a
    newline right after the opening bracket: do not start `text` with one)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    fence = "=" * level
    return f"[{fence}[{text}]{fence}]"


def write_lua(
    path: Path, method: str, body: str | None = None, headers: Mapping[str, str] | None = None
) -> Path:
    """A wrk script sending the same request every time."""
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {lua_string(body)}")
    lines += [f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in (headers or {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_cycle_lua(
    path: Path,
    method: str,
    requests: Sequence[tuple[str, str | None]],
    headers: Mapping[str, str] | None = None,
    extra: str = "",
) -> Path:
    """A wrk script (one thread) that sends `requests` — (path, body or None) — in order, round and
    round, starting after the index given as the first script argument (default 0); `extra` is
    appended (e.g. `response`/`done` functions)."""
    if not requests:
        raise BenchError("no request to cycle through")
    entries = ",\n".join(
        f"{{{lua_string(p)}, {lua_string(b) if b is not None else 'nil'}}}" for p, b in requests
    )
    header_lines = "".join(
        f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}\n" for k, v in (headers or {}).items()
    )
    path.write_text(
        f"local requests = {{\n{entries}\n}}\n"
        "local count = #requests\n"
        "local index = 0\n"
        "init = function(args)\n"
        "  index = (tonumber(args[1]) or 0) % count\n"
        "end\n"
        f'wrk.method = "{method}"\n'
        f"{header_lines}"
        "request = function()\n"
        "  index = index % count + 1\n"
        "  local item = requests[index]\n"
        "  return wrk.format(nil, item[1], nil, item[2])\n"
        "end\n" + extra
    )
    return path


# Lua: wrk's `done` runs in the main state; thread globals are read with `thread:get`.
LUA_THREADS = "local threads = {}\nsetup = function(thread)\n  table.insert(threads, thread)\nend\n"


# -- output ---------------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 2) -> str:
    """A Markdown table: the first `left` columns left-aligned, the others right-aligned."""
    lines = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    fmt = [f"{{:<{w}}}" if i < left else f"{{:>{w}}}" for i, w in enumerate(widths)]
    out = ["| " + " | ".join(f.format(c) for f, c in zip(fmt, line, strict=True)) + " |" for line in lines]
    rule = ("-" * (w + 1) + ":" if i >= left else "-" * (w + 2) for i, w in enumerate(widths))
    out.insert(1, "|" + "|".join(rule) + "|")
    return "\n".join(out)


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def tool_banner(argv: Sequence[str]) -> str:
    """The first line a tool prints about its version ("" if it cannot be run)."""
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    banner = (completed.stdout or completed.stderr).strip()
    return banner.splitlines()[0] if banner else ""


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
    }


def write_results(name: str, document: dict[str, Any]) -> Path:
    """`bench/results/<name>.json` (git-ignored)."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def report(
    name: str, command: str, config: Any, environment: dict[str, Any], results: Sequence[Any], **extra: Any
) -> Path:
    """Write a run's JSON document (command, config dataclass, environment, result dataclasses and
    any extra sections) to `bench/results/<name>.json` and say where."""
    document = {
        "command": command,
        "config": asdict(config),
        "environment": environment,
        "results": [asdict(r) for r in results],
        **extra,
    }
    path = write_results(name, document)
    print(f"\nresults: {path.relative_to(ROOT)}")
    return path


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command as typed, for the report."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([f"python bench/{script}", *args])
