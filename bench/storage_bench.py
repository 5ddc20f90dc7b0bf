"""Storage benchmark: user sessions and free-text processing with a userId, on SQLite and on
PostgreSQL + Redis, with hot users (served from the per-worker L1 cache) and cold ones.

    python bench/storage_bench.py [--duration S] [--quick] [--users N] [--backends sqlite,postgres]
                                  [--endpoints session,process,mixed]

PostgreSQL and Redis come from IXP_TEST_DATABASE_URL and IXP_TEST_REDIS_URL (start them with
`bash .ci/services.sh start && source /tmp/ixp-services/env`); the benchmark creates a database of
its own on that server (dropped at the end) and uses its own Redis database number. For each
backend: seed N users and one session each through the API, then measure with wrk
`GET /api/users/{id}/session`, `POST /api/intents/process` with a `userId` and the two mixed as in
the performance guide (70 % / 30 %), first over a few hot users (default cache), then over all the
others with a tiny L1 and emptied caches. The share of cache lookups answered by L1, by L2 (Redis)
and by the database, and the session writes per transaction, come from the deltas of
`/ixp/metrics` → `storage.cache` and `storage.groupCommit`. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:  # `python -m bench.storage_bench` from the repository root
    from bench import harness
    from bench.registry_gen import write_registry
except ImportError:  # `python bench/storage_bench.py`: this directory is on sys.path
    import harness  # type: ignore[no-redef,import-not-found]
    from registry_gen import write_registry  # type: ignore[no-redef,import-not-found]

HOT_USERS = 16
COLD_CACHE_SIZE = 64  # IXP_CACHE_SIZE of the cold runs: far below the users read
REDIS_DB = 15
SEED_THREADS = 8
MESSAGE = "search wireless headphones under 200"  # matches bench_render of bench/registry_gen.py
MESSAGE_INTENT = "bench_render"
CACHE_PREFIX = "ixp:cache:"
SERVICES_HINT = "bash .ci/services.sh start && source /tmp/ixp-services/env"
QUIET_ADVICE = "re-run on a quiet machine or with --quiet-wait 30"


# -- backends -------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    env: dict[str, str]  # IXP_* settings naming the store (and Redis)
    redis_url: str | None = None
    services: list[int] = field(default_factory=list)  # PostgreSQL and Redis server pids, if local


def sqlite_backend(work: Path) -> Backend:
    return Backend("sqlite", {"IXP_SQLITE_PATH": str(work / "storage.db")})


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def service_urls() -> tuple[str, str]:
    database, redis_url = os.environ.get("IXP_TEST_DATABASE_URL"), os.environ.get("IXP_TEST_REDIS_URL")
    if not database or not redis_url:
        raise harness.BenchError(
            "IXP_TEST_DATABASE_URL and IXP_TEST_REDIS_URL are not set: start PostgreSQL and Redis with\n"
            f"    {SERVICES_HINT}\nand run again in that shell, or measure SQLite only with --backends sqlite"
        )
    return database, redis_url


@contextlib.contextmanager
def postgres_backend() -> Iterator[Backend]:
    """A database of our own on the test server (dropped afterwards) and Redis database REDIS_DB."""
    base_url, redis_base = service_urls()
    name = f"ixp_bench_{os.getpid()}"
    asyncio.run(_admin(base_url, f'CREATE DATABASE "{name}"'))
    try:
        redis_url = with_path(redis_base, f"/{REDIS_DB}")
        backend = Backend(
            "postgres+redis",
            {"IXP_DATABASE_URL": with_path(base_url, f"/{name}"), "IXP_REDIS_URL": redis_url},
            redis_url,
        )
        backend.services = services(base_url, redis_url)
        clear_redis(redis_url)
        yield backend
    finally:
        clean_up(base_url, name, with_path(redis_base, f"/{REDIS_DB}"))


def clean_up(database_url: str, name: str, redis_url: str) -> None:
    """Drop our database and our cache keys; a failure is reported, not raised (it would hide the
    run's own error)."""
    try:
        clear_redis(redis_url)
        asyncio.run(_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as exc:  # whatever it is, it must not mask the benchmark's own error
        print(f"warning: could not drop database {name!r} / clear {redis_url}: {exc}", file=sys.stderr)


async def _connect(url: str) -> Any:
    import asyncpg  # type: ignore[import-untyped]

    try:
        return await asyncpg.connect(url, timeout=5)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
        raise harness.BenchError(f"cannot connect to PostgreSQL at {url}: {exc}\n  {SERVICES_HINT}") from None


async def _admin(url: str, statement: str) -> None:
    conn = await _connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _postgres_pid(url: str) -> int | None:
    """The postmaster (parent of our backend), whose tree is every PostgreSQL process, if local.
    Read while the connection is open: the backend exits with it."""
    conn = await _connect(url)
    try:
        backend_pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        with open(f"/proc/{backend_pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:  # not on this machine
        return None
    finally:
        await conn.close()


def services(database_url: str, redis_url: str) -> list[int]:
    """PostgreSQL's and Redis's server pids, for their CPU time (only when they run here)."""
    pids = [asyncio.run(_postgres_pid(database_url)), _redis_pid(redis_url)]
    if None in pids:
        print("  note: PostgreSQL or Redis is not local; its CPU is not measured", file=sys.stderr)
    return [pid for pid in pids if pid is not None]


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _redis_pid(url: str) -> int | None:
    import redis

    try:
        pid = int(_redis_client(url).info("server")["process_id"])
    except redis.RedisError as exc:
        raise harness.BenchError(f"cannot reach Redis at {url}: {exc}\n  {SERVICES_HINT}") from None
    return pid if os.path.exists(f"/proc/{pid}") else None


def clear_redis(url: str | None) -> None:
    """Delete ixp's cache keys from our Redis database (nothing else)."""
    if url is None:
        return
    client = _redis_client(url)
    keys = list(client.scan_iter(match=f"{CACHE_PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


# -- seeding through the API ----------------------------------------------------------------------


def parallel_calls(port: int, calls: Sequence[tuple[str, str, bytes]], expect: int) -> list[harness.Reply]:
    """`calls` (method, path, body) on SEED_THREADS keep-alive connections; each must answer `expect`."""
    local = threading.local()
    opened: list[http.client.HTTPConnection] = []

    def one(item: tuple[str, str, bytes]) -> harness.Reply:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            opened.append(conn)
        reply = harness.send(conn, *item)
        if reply.status != expect:
            raise harness.BenchError(f"{item[0]} {item[1]}: HTTP {reply.status}: {reply.body[:300]!r}")
        return reply

    try:
        with ThreadPoolExecutor(SEED_THREADS) as pool:
            return list(pool.map(one, calls))
    finally:
        for conn in opened:
            conn.close()


def seed(port: int, n_users: int) -> list[int]:
    """Create `n_users` users and give each a session (one processed message); return their ids."""
    creations = [
        ("POST", "/api/users", json.dumps({"email": f"user{i}@bench.example", "name": f"User {i}"}).encode())
        for i in range(n_users)
    ]
    ids = sorted(reply.json()["id"] for reply in parallel_calls(port, creations, 201))
    parallel_calls(port, [("POST", "/api/intents/process", process_body(i)) for i in ids], 200)
    return ids


def process_body(user_id: int) -> bytes:
    return json.dumps({"message": MESSAGE, "userId": user_id}).encode()


# -- endpoints and scenarios ----------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str  # GET, POST, or MIXED: the guide's scenario (MIXED_PROCESS in 10 process, the rest reads)

    def request(self, user_id: int) -> tuple[str, str | None]:
        if self.method == "GET":
            return f"/api/users/{user_id}/session", None
        return "/api/intents/process", process_body(user_id).decode()


ENDPOINTS = (Endpoint("session", "GET"), Endpoint("process", "POST"), Endpoint("mixed", "MIXED"))
MIXED_PROCESS = 7  # of every 10 requests: the performance guide's 70 % processing, 30 % session reads
# Lua: a GET for an entry without a body, a POST otherwise (replaces write_cycle_lua's `request`).
MIXED_REQUEST = (
    "request = function()\n"
    "  index = index % count + 1\n"
    "  local item = requests[index]\n"
    '  return wrk.format(item[2] and "POST" or "GET", item[1], nil, item[2])\n'
    "end\n"
)


def mixed_requests(users: Sequence[int]) -> list[tuple[str, str | None]]:
    """Blocks of ten: seven users' messages processed, then three of those users' sessions read
    (the reads follow their own writes, as a front end's would)."""
    requests: list[tuple[str, str | None]] = []
    for start in range(0, len(users), MIXED_PROCESS):
        block = [users[(start + i) % len(users)] for i in range(MIXED_PROCESS)]
        requests += [ENDPOINTS[1].request(u) for u in block]
        requests += [ENDPOINTS[0].request(u) for u in block[: 10 - MIXED_PROCESS]]
    return requests


def check_reply(endpoint: Endpoint, user_id: int, reply: harness.Reply) -> None:
    where = f"{endpoint.method} {endpoint.request(user_id)[0]}"
    if reply.status != 200:
        raise harness.BenchError(f"{where}: HTTP {reply.status}: {reply.body[:300]!r}")
    document = reply.json()
    if endpoint.name == "session":
        session = document.get("session") or {}
        if document.get("user", {}).get("id") != user_id or session.get("intentCount", 0) < 1:
            raise harness.BenchError(f"{where}: not user {user_id} with a session: {document!r:.300}")
    elif document.get("intent") != MESSAGE_INTENT:
        raise harness.BenchError(f"{where}: expected intent {MESSAGE_INTENT}: {document!r:.300}")


@dataclass(frozen=True)
class Scenario:
    name: str
    settings: dict[str, str]  # extra IXP_* settings of the server


SCENARIOS = (
    Scenario("l1-hit", {}),
    Scenario("cold", {"IXP_CACHE_SIZE": str(COLD_CACHE_SIZE), "IXP_WARM_USERS": "0"}),
)


# -- one measurement ------------------------------------------------------------------------------


@dataclass
class Measurement:
    backend: str
    scenario: str
    endpoint: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float
    services_us_per_req: float | None
    lookups: int  # cache lookups during the run (the session endpoint makes two per request)
    batches: int | None  # group commit: transactions of session writes during the run (None: absent)
    batched_writes: int | None
    l1_hits: int
    l2_hits: int
    db_loads: int
    redis: bool
    users: int  # distinct users the run cycled through
    requests: int
    cpu_s: float
    seconds: float
    wrk_cpu_s: float
    other_cpu_s: float


@dataclass(frozen=True)
class Config:
    duration: float
    warmup: float
    connections: int
    users: int
    backends: tuple[str, ...]
    quiet_wait: float
    endpoints: tuple[str, ...] = tuple(e.name for e in ENDPOINTS)


def cache_counters(port: int) -> dict[str, int]:
    storage = harness.get_json(port, "/ixp/metrics")["storage"]
    cache = storage["cache"]
    group = storage.get("groupCommit")  # absent before group commit (comparisons with older code)
    return {
        "l1_hits": int(cache["l1"]["hits"]),
        "l1_misses": int(cache["l1"]["misses"]),
        "l2_hits": int(cache["l2"]["hits"]),
        "batches": int(group["batches"]) if group else -1,
        "batched_writes": int(group["writes"]) if group else -1,
    }


def measure(
    process_pid: int,
    port: int,
    backend: Backend,
    scenario: Scenario,
    endpoint: Endpoint,
    users: Sequence[int],
    warm_users: Sequence[int],
    config: Config,
    work: Path,
) -> Measurement:
    """Warm up on `warm_users`, empty Redis for a cold run, then wrk over `users` with CPU time and
    cache counters read around it."""
    url = f"http://127.0.0.1:{port}"
    for user_id in (users[0], warm_users[0]):
        path, body = endpoint.request(user_id)
        method = "POST" if endpoint.method == "MIXED" else endpoint.method  # checked as a process
        check_reply(endpoint, user_id, harness.call(port, method, path, (body or "").encode()))
    warm = lua_for(endpoint, warm_users, work / f"warm-{endpoint.name}.lua")
    harness.check_load(harness.run_wrk(url, config.warmup, config.connections, warm), "warm-up")
    if scenario.name == "cold":
        clear_redis(backend.redis_url)
    if config.quiet_wait > 0:
        harness.wait_until_quiet(config.quiet_wait)
    lua = lua_for(endpoint, users, work / f"{endpoint.name}.lua")
    before = cache_counters(port)
    result, cpu = harness.measure_cpu(
        process_pid,
        lambda: harness.run_wrk(url, config.duration, config.connections, lua),
        backend.services,
    )
    after = cache_counters(port)
    harness.check_load(result, f"{backend.name} {scenario.name} {endpoint.method} {endpoint.name}")
    delta = {key: after[key] - before[key] for key in after}
    lookups = delta["l1_hits"] + delta["l1_misses"]
    grouped = before["batches"] >= 0
    return Measurement(
        backend=backend.name,
        scenario=scenario.name,
        endpoint=endpoint.name,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us_per_req=cpu.server_s * 1e6 / result.requests,
        services_us_per_req=cpu.services_s * 1e6 / result.requests if backend.services else None,
        lookups=lookups,
        batches=delta["batches"] if grouped else None,
        batched_writes=delta["batched_writes"] if grouped else None,
        l1_hits=delta["l1_hits"],
        l2_hits=delta["l2_hits"],
        db_loads=lookups - delta["l1_hits"] - delta["l2_hits"],
        redis=backend.redis_url is not None,
        users=len(users),
        requests=result.requests,
        cpu_s=cpu.server_s,
        seconds=result.seconds,
        wrk_cpu_s=cpu.client_s,
        other_cpu_s=cpu.other_s,
    )


def lua_for(endpoint: Endpoint, users: Sequence[int], path: Path) -> Path:
    headers = (
        {**harness.AUTH, "Content-Type": "application/json"} if endpoint.method != "GET" else harness.AUTH
    )
    if endpoint.method == "MIXED":
        return harness.write_cycle_lua(path, "GET", mixed_requests(users), headers, extra=MIXED_REQUEST)
    return harness.write_cycle_lua(path, endpoint.method, [endpoint.request(u) for u in users], headers)


# -- the run --------------------------------------------------------------------------------------


def server_env(backend: Backend, intents: tuple[Path, Path], scenario: Scenario) -> dict[str, str]:
    env = harness.server_env(
        {
            "IXP_INTENTS": str(intents[0]),
            "IXP_COMPONENTS": str(intents[1]),
            **backend.env,
            **scenario.settings,
        }
    )
    for name in ("IXP_DATABASE_URL", "IXP_REDIS_URL"):
        if name not in backend.env:
            env.pop(name, None)  # SQLite: nothing inherited from the shell
    return env


def bench_backend(backend: Backend, config: Config, work: Path) -> list[Measurement]:
    intents = write_registry(work / "registry")
    rows: list[Measurement] = []
    ids: list[int] = []
    for scenario in SCENARIOS:
        clear_redis(backend.redis_url)
        port = harness.free_port()
        argv = harness.granian_argv("rsgi", "ixp.app:app", port)
        env = server_env(backend, intents, scenario)
        log_path = work / f"{backend.name}-{scenario.name}.log"
        with harness.server(f"ixp ({backend.name})", argv, port, env, log_path) as process:
            if not ids:
                started = time.monotonic()
                ids = seed(port, config.users)
                print(
                    f"  seeded {len(ids):,} users and sessions in {time.monotonic() - started:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            hot, pool = ids[:HOT_USERS], ids[HOT_USERS:]
            users = hot if scenario.name == "l1-hit" else pool
            for endpoint in (e for e in ENDPOINTS if e.name in config.endpoints):
                print(f"  {scenario.name} {endpoint.name} ...", file=sys.stderr, flush=True)
                rows.append(measure(process.pid, port, backend, scenario, endpoint, users, hot, config, work))
    return rows


def run(config: Config, work: Path) -> list[Measurement]:
    rows: list[Measurement] = []
    for name in config.backends:
        print(f"{name} ...", file=sys.stderr, flush=True)
        if name == "sqlite":
            rows += bench_backend(sqlite_backend(work), config, work)
        else:
            with postgres_backend() as backend:
                rows += bench_backend(backend, config, work)
    return rows


# -- output ---------------------------------------------------------------------------------------


def table(rows: Sequence[Measurement]) -> str:
    header = (
        "backend", "scenario", "endpoint", "req/s", "p99 ms", "CPU us/req", "svc us/req", "L1 %",
        "L2 %", "DB %", "writes/tx", "other CPU",
    )  # fmt: skip
    lines = [
        (
            m.backend,
            m.scenario,
            m.endpoint,
            f"{m.rps:,.0f}",
            f"{m.p99_ms:.2f}",
            f"{m.cpu_us_per_req:.1f}",
            f"{m.services_us_per_req:.1f}" if m.services_us_per_req is not None else "-",
            harness.percent(m.l1_hits, m.lookups),
            harness.percent(m.l2_hits, m.lookups) if m.redis else "-",
            harness.percent(m.db_loads, m.lookups),
            f"{m.batched_writes / m.batches:.1f}" if m.batches and m.batched_writes is not None else "-",
            harness.percent(m.other_cpu_s, m.seconds),
        )
        for m in rows
    ]
    return harness.markdown_table(header, lines, left=3)


def environment() -> dict[str, Any]:
    return {
        **harness.machine(),
        "packages": harness.package_versions(("granian", "msgspec", "asyncpg", "redis")),
        "wrk": harness.tool_banner(["wrk", "--version"]),
    }


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-ups, 10,000 users")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--users", type=int, help="users seeded per backend (default 30,000; --quick 10,000)")
    parser.add_argument(
        "--backends", default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (PostgreSQL + Redis); default both",
    )  # fmt: skip
    parser.add_argument(
        "--endpoints", default=",".join(e.name for e in ENDPOINTS),
        help="comma-separated: session, process, mixed (70 %% process, 30 %% session reads); default all",
    )  # fmt: skip
    parser.add_argument(
        "--quiet-wait", type=float, default=0.0, metavar="S",
        help="before each measured run, wait up to S s for other processes to go below 20%% of a core",
    )  # fmt: skip
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
    users = args.users if args.users is not None else (10_000 if args.quick else 30_000)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if not backends or not set(backends) <= {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    if duration < 1 or args.connections < 1 or users < 2 * HOT_USERS:
        parser.error(f"--duration must be >= 1 s, --connections >= 1, --users >= {2 * HOT_USERS}")
    endpoints = tuple(e.strip() for e in args.endpoints.split(",") if e.strip())
    if not endpoints or not set(endpoints) <= {e.name for e in ENDPOINTS}:
        parser.error("--endpoints takes session, process and/or mixed")
    warmup = 1.0 if args.quick else 2.0
    return Config(duration, warmup, args.connections, users, backends, max(0.0, args.quiet_wait), endpoints)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if "postgres" in config.backends:
        try:
            service_urls()
        except harness.BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ixp-storage-bench-") as tmp:
        try:
            rows = run(config, Path(tmp))
        except harness.BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
    command = harness.command_line("storage_bench.py", argv)
    print(f"\n$ {command}   ({time.monotonic() - started:.0f} s)\n")
    print(
        f"{config.users:,} users seeded per backend; l1-hit: {HOT_USERS} users, default cache; "
        f"cold: the other {config.users - HOT_USERS:,}, IXP_CACHE_SIZE={COLD_CACHE_SIZE}, "
        "caches emptied before the run\n"
    )
    print(table(rows))
    shares = [(f"{m.backend} {m.scenario} {m.endpoint}", m.other_cpu_s / m.seconds) for m in rows]
    warning = harness.noise_warning(shares, QUIET_ADVICE)
    if warning:
        print("\n" + warning)
    harness.report("storage_bench", command, config, environment(), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
