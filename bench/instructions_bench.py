"""Instructions per request: ixp against the ceiling app, counted by callgrind through real Granian.

    python bench/instructions_bench.py [--requests N] [--warmup N] [--targets A,B]

req/s on this shared 2-core machine moves by ±25 % between runs; instruction counts do not. For
each target and endpoint of `http_bench.py` (the same 50-intent registry, the same requests: for
ixp also the invalid render, a 400, and free text hitting the match cache),
this starts Granian (`--workers 1`, every process under `valgrind --tool=callgrind`), sends
`--warmup` requests, zeroes the counters (`callgrind_control -z`), sends `--requests` requests one
after another on one keep-alive connection, dumps the counters and divides the user-space
instructions of all the server's processes and threads (Granian's Rust runtime, the Python worker,
ixp's extension) by the number of requests. Kernel time (the sockets) is not counted, so the ratio
to the ceiling is a stricter measure of ixp's own cost than the CPU-time ratio of `http_bench.py`.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:  # `python -m bench.instructions_bench` from the repository root
    from bench import harness
    from bench.http_bench import CEILING, TARGETS, Endpoint, endpoints_of
    from bench.registry_gen import write_registry
except ImportError:  # `python bench/instructions_bench.py`
    import harness  # type: ignore[no-redef,import-not-found]
    from http_bench import CEILING, TARGETS, Endpoint, endpoints_of  # type: ignore[no-redef,import-not-found]
    from registry_gen import write_registry  # type: ignore[no-redef,import-not-found]

GRANIAN_TARGETS = tuple(t.name for t in TARGETS if t.name.startswith("ixp-") or t.name == CEILING)
START_TIMEOUT_S = 180.0  # Python under valgrind starts ~50x slower


@dataclass(frozen=True)
class Config:
    requests: int
    warmup: int
    targets: tuple[str, ...]
    n_intents: int
    plugins: str = ""


@dataclass
class Count:
    target: str
    endpoint: str
    requests: int
    instructions: int
    per_request: float = 0.0
    vs_ceiling: float | None = None
    extra_vs_ceiling: float | None = None


def raw_request(endpoint: Endpoint) -> bytes:
    head = f"{endpoint.method} {endpoint.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if endpoint.body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(endpoint.body)}\r\n"
    return (head + "\r\n").encode() + endpoint.body


class Client:
    """One keep-alive HTTP/1.1 connection; each exchange reads exactly one response."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.pending = b""

    def exchange(self, request: bytes) -> int:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.pending:
            self.pending += self._recv()
        head, _, rest = self.pending.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._recv()
        self.pending = rest[length:]
        return int(head.split(b" ", 2)[1])

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise harness.BenchError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def callgrind_control(root: int, *args: str) -> None:
    """`callgrind_control ARGS PID` for `root` and each of its descendants (only this run's server:
    without a pid it would reach every callgrind process on the machine, another run's included)."""
    for pid in process_tree(root):
        subprocess.run(["callgrind_control", *args, str(pid)], check=False, capture_output=True, timeout=60)


def process_tree(root: int) -> list[int]:
    pids, index = [root], 0
    while index < len(pids):
        for task in Path(f"/proc/{pids[index]}/task").glob("*/children"):
            try:
                pids += [int(child) for child in task.read_text().split()]
            except OSError:  # exited meanwhile
                continue
        index += 1
    return pids


def measured_instructions(out_dir: Path) -> int:
    """The `summary:` totals of the dumps triggered by `callgrind_control -d measured`."""
    total = 0
    for dump in out_dir.glob("cg.*"):
        text = dump.read_text(errors="replace")
        header = text.split("\nevents:", 1)[0]
        if "measured" not in header:
            continue
        for line in text.splitlines():
            if line.startswith("summary:"):
                total += int(line.split()[1])
                break
    return total


def count(target: str, endpoint: Endpoint, config: Config, env: dict[str, str], work: Path) -> Count:
    app = next(t for t in TARGETS if t.name == target)
    port = harness.free_port()
    out_dir = work / f"{target}-{endpoint.name}"
    out_dir.mkdir(parents=True)
    argv = [
        "valgrind", "--tool=callgrind", "--trace-children=yes", "--dump-instr=no",
        f"--callgrind-out-file={out_dir}/cg.%p", *app.argv(port),
    ]  # fmt: skip
    log_path = out_dir / "server.log"
    request = raw_request(endpoint)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=harness.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            client = connect(port, process, log_path)
            try:
                for _ in range(config.warmup):
                    check(client.exchange(request), target, endpoint)
                callgrind_control(process.pid, "-z")
                for _ in range(config.requests):
                    check(client.exchange(request), target, endpoint)
                callgrind_control(process.pid, "-d", "measured")
            finally:
                client.close()
        finally:
            harness.stop(process)
    instructions = measured_instructions(out_dir)
    if instructions == 0:
        raise harness.BenchError(f"{target}: no measured callgrind dump in {out_dir}")
    return Count(target, endpoint.name, config.requests, instructions, instructions / config.requests)


def connect(port: int, process: subprocess.Popen[bytes], log_path: Path) -> Client:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            return Client(port)
        except OSError:
            if process.poll() is not None:
                raise harness.BenchError(f"server exited:\n{harness.tail(log_path)}") from None
            if time.monotonic() > deadline:
                raise harness.BenchError(f"no answer within {START_TIMEOUT_S:.0f} s") from None
            time.sleep(0.5)


def check(status: int, target: str, endpoint: Endpoint) -> None:
    if status != endpoint.status:
        where = f"{target} {endpoint.method} {endpoint.path}"
        raise harness.BenchError(f"{where}: HTTP {status} (expected {endpoint.status})")


def run(config: Config, work: Path) -> list[Count]:
    intents_path, components_path = write_registry(work / "registry", config.n_intents)
    extra = {"IXP_INTENTS": str(intents_path), "IXP_COMPONENTS": str(components_path)}
    if config.plugins:
        extra["IXP_PLUGINS"] = config.plugins
    env = harness.server_env(extra)
    rows = []
    for target in config.targets:
        for endpoint in endpoints_of(target):
            print(f"{target} {endpoint.name} ...", file=sys.stderr, flush=True)
            rows.append(count(target, endpoint, config, env, work))
    ceiling = {r.endpoint: r.per_request for r in rows if r.target == CEILING}
    for row in rows:
        if row.endpoint in ceiling:
            row.vs_ceiling = row.per_request / ceiling[row.endpoint]
            row.extra_vs_ceiling = row.per_request - ceiling[row.endpoint]
    return rows


def table(rows: list[Count]) -> str:
    header = ("target", "endpoint", "instructions/req", "÷ ceiling", "extra vs ceiling")
    body = [
        (
            r.target,
            r.endpoint,
            f"{r.per_request:,.0f}",
            f"{r.vs_ceiling:.3f}" if r.vs_ceiling is not None else "",
            f"{r.extra_vs_ceiling:+,.0f}" if r.extra_vs_ceiling is not None else "",
        )
        for r in rows
    ]
    return harness.markdown_table(header, body)


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="counted requests (default 2000)")
    parser.add_argument("--warmup", type=int, default=300, help="requests before counting (default 300)")
    parser.add_argument("--intents", type=int, default=50, help="registry size (default 50)")
    parser.add_argument(
        "--targets", default=",".join(GRANIAN_TARGETS), metavar="A,B",
        help=f"comma-separated subset of {', '.join(GRANIAN_TARGETS)} (the ceiling is always run)",
    )  # fmt: skip
    parser.add_argument(
        "--plugins", default="", metavar="MODULE:ATTR,...",
        help="IXP_PLUGINS for every server, e.g. bench.plugins:OtherIntentData (another intent's provider)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.intents < 1:
        parser.error("--requests and --intents must be >= 1, --warmup >= 0")
    wanted = {n.strip() for n in args.targets.split(",") if n.strip()} | {CEILING}
    unknown = wanted - set(GRANIAN_TARGETS)
    if unknown:
        parser.error(
            f"--targets: unknown {', '.join(sorted(unknown))}; choose from {', '.join(GRANIAN_TARGETS)}"
        )
    targets = tuple(name for name in GRANIAN_TARGETS if name in wanted)
    return Config(args.requests, args.warmup, targets, args.intents, args.plugins)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"error: {', '.join(missing)} not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ixp-instructions-") as tmp:
        try:
            rows = run(config, Path(tmp))
        except harness.BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
    command = harness.command_line("instructions_bench.py", argv)
    print(f"\n$ {command}   ({time.monotonic() - started:.0f} s)\n")
    print(table(rows))
    environment = {
        **harness.machine(),
        "valgrind": harness.tool_banner(["valgrind", "--version"]),
        "packages": harness.package_versions(("granian", "msgspec")),
    }
    harness.report("instructions_bench", command, config, environment, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
