"""Free-text benchmark: ixp's Rust matcher against the performance guide's matcher in pure Python,
both behind the same ixp request path, on 1,000 intents with patterns and 10,000 messages.

    python bench/nl_bench.py [--duration S] [--quick] [--connections N] [--batch-connections N]

Two targets, served the same way (Granian RSGI, one worker, the same generated registry):
`ixp.app:app` and `bench.baselines.python_matcher_app:app` (ixp with `registry.matcher` replaced by
a pure-Python `OptimizedIntentMatcher`). Every message is first sent to both through the batch
endpoint and the answers must agree; then wrk cycles through the messages on
`POST /api/intents/process` (one message per request) and `POST /api/intents/process/batch`
(100 per request) while the server's CPU time is read from /proc. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # `python -m bench.nl_bench` from the repository root
    from bench import harness
    from bench.registry_gen import component
except ImportError:  # `python bench/nl_bench.py`: this directory is on sys.path
    import harness  # type: ignore[no-redef,import-not-found]
    from registry_gen import component  # type: ignore[no-redef,import-not-found]

from ixp import IntentMatcher

SEED = 20251124
N_INTENTS = 1_000
N_MESSAGES = 10_000
BATCH_SIZE = 100
REPEAT_SHARE = 0.05  # messages that repeat one sent shortly before (cache hits by design)
REPEAT_DISTANCE = 50
EDGE_SHARE = 0.05  # "early" intents: the first 5% in priority order; "late": the last 5%
MATCH_CACHE_SIZE = 1_000  # < the 10,000 messages cycled: the cache stays cold (see README)
PRE_CHECK_BATCH = 1_000  # ixp's default IXP_MAX_BATCH_MESSAGES
MISS_CODE = "NO_INTENT_MATCHED"
QUIET_ADVICE = "re-run on a quiet machine or with --quiet-wait 30"

# (action, verbs): 25 actions x 40 topics = 1,000 intents; no word is shared between two lists.
ACTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("show", ("show", "display", "view")),
    ("list", ("list", "enumerate")),
    ("find", ("find", "search for", "look up")),
    ("book", ("book", "reserve")),
    ("cancel", ("cancel", "call off")),
    ("track", ("track", "follow")),
    ("compare", ("compare", "contrast")),
    ("rate", ("rate", "review")),
    ("share", ("share", "send")),
    ("export", ("export", "back up")),
    ("download", ("download", "fetch")),
    ("print", ("print",)),
    ("rename", ("rename", "relabel")),
    ("archive", ("archive", "stash")),
    ("delete", ("delete", "remove")),
    ("update", ("update", "edit", "change")),
    ("schedule", ("schedule", "plan")),
    ("renew", ("renew", "extend")),
    ("pay", ("pay", "settle")),
    ("split", ("split", "divide")),
    ("remind", ("remind me about", "remember")),
    ("summarize", ("summarize", "recap")),
    ("translate", ("translate",)),
    ("recommend", ("recommend", "suggest")),
    ("count", ("count", "tally")),
)
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("orders", ("order", "orders", "purchase", "purchases")),
    ("invoices", ("invoice", "invoices", "bill", "bills")),
    ("flights", ("flight", "flights", "plane ticket", "plane tickets")),
    ("hotels", ("hotel", "hotels", "room", "rooms")),
    ("trains", ("train", "trains", "rail ticket", "rail tickets")),
    ("restaurants", ("restaurant", "restaurants", "table", "tables")),
    ("recipes", ("recipe", "recipes", "dish", "dishes")),
    ("movies", ("movie", "movies", "film", "films")),
    ("concerts", ("concert", "concerts", "gig", "gigs")),
    ("books", ("novel", "novels", "paperback", "paperbacks")),
    ("songs", ("song", "songs", "tune", "tunes")),
    ("podcasts", ("podcast", "podcasts", "episode", "episodes")),
    ("jobs", ("job", "jobs", "vacancy", "vacancies")),
    ("apartments", ("apartment", "apartments", "flat", "flats")),
    ("cars", ("car", "cars", "vehicle", "vehicles")),
    ("bikes", ("bike", "bikes", "bicycle", "bicycles")),
    ("vouchers", ("voucher", "vouchers", "coupon", "coupons")),
    ("payments", ("payment", "payments", "transfer", "transfers")),
    ("refunds", ("refund", "refunds", "chargeback", "chargebacks")),
    ("subscriptions", ("subscription", "subscriptions", "membership", "memberships")),
    ("deliveries", ("delivery", "deliveries", "parcel", "parcels")),
    ("appointments", ("appointment", "appointments", "booking", "bookings")),
    ("prescriptions", ("prescription", "prescriptions", "medication", "medications")),
    ("workouts", ("workout", "workouts", "training session", "training sessions")),
    ("meetings", ("meeting", "meetings", "conference", "conferences")),
    ("tasks", ("task", "tasks", "todo", "todos")),
    ("emails", ("email", "emails", "message", "messages")),
    ("contacts", ("contact", "contacts", "friend", "friends")),
    ("photos", ("photo", "photos", "picture", "pictures")),
    ("documents", ("document", "documents", "file", "files")),
    ("reports", ("report", "reports", "dashboard", "dashboards")),
    ("expenses", ("expense", "expenses", "receipt", "receipts")),
    ("budgets", ("budget", "budgets", "spending plan", "spending plans")),
    ("loans", ("loan", "loans", "mortgage", "mortgages")),
    ("stocks", ("stock", "stocks", "equity", "equities")),
    ("wallets", ("wallet", "wallets", "account", "accounts")),
    ("notes", ("note", "notes", "memo", "memos")),
    ("playlists", ("playlist", "playlists", "mixtape", "mixtapes")),
    ("events", ("event", "events", "festival", "festivals")),
    ("courses", ("course", "courses", "lecture", "lectures")),
)
CITIES = ("paris", "tokyo", "lima", "berlin", "oslo", "cairo", "quito", "dublin", "austin", "porto")
SORTS = ("date", "price", "rating", "name")
PREFIXES = ("", "please ", "hey, ", "could you ", "ok so ", "i was wondering if you could ", "can you ")
DETERMINERS = ("", "my ", "the ", "all ", "some ", "me my ")
POSTFIXES = ("", " please", " thanks", " asap", " right now", ", cheers")
SMALLTALK = (
    "what do you think about {a} and {b}",
    "tell me a joke about {a}",
    "how is the weather in {city} today",
    "i had a long day with {a} and {b}",
    "do you know anything about {a}",
    "show me something nice about {city}",
    "my {a} is broken again, number {n}",
    "who won the {a} game last night",
    "why is {a} always better than {b}",
    "just saying hi from {city}",
)
SMALLTALK_WORDS = (
    "cats", "quantum physics", "the traffic", "my neighbour", "coffee", "the moon", "jazz", "rain",
    "football", "my laptop", "the printer", "spreadsheets", "gardening", "pizza", "the election",
    "dinosaurs", "yoga", "the office", "tea", "chess", "my sister", "robots", "the ocean", "winter",
)  # fmt: skip


# -- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """An optional typed parameter at the end of a pattern: regex suffix and JSON schema."""

    name: str
    regex: str
    schema: dict[str, Any]


SLOTS = (
    Slot("city", r"(?: (?:in|near) (?P<city>[a-z]+))?", {"type": "string", "maxLength": 40}),
    Slot("limit", r"(?: (?:top|first|last) (?P<limit>[0-9]{1,3}))?", {"type": "integer", "minimum": 1}),
    Slot(
        "maxPrice",
        r"(?: under (?P<maxPrice>[0-9]{1,5}(?:\.[0-9]{1,2})?))?",
        {"type": "number", "minimum": 0},
    ),
    Slot(
        "date",
        r"(?: on (?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}))?",
        {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    ),
    Slot(
        "sort",
        r"(?: sorted by (?P<sort>date|price|rating|name))?",
        {"type": "string", "enum": list(SORTS)},
    ),
    Slot("ref", r"(?: #(?P<ref>[0-9]{4,8}))?", {"type": "string", "maxLength": 8}),
    Slot("giftWrap", r"(?: gift wrap (?P<giftWrap>yes|no))?", {"type": "boolean"}),
)


@dataclass(frozen=True)
class IntentSpec:
    name: str
    verbs: tuple[str, ...]
    nouns: tuple[str, ...]
    slots: tuple[Slot, ...]
    priority: int
    component: str


def _alternation(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def patterns_of(spec: IntentSpec) -> list[str]:
    """One pattern per intent: 1,000 patterns, which fit ixp's default 10 MiB matcher budget (with
    `\\d` instead of `[0-9]`, or a second pattern per intent, they would not)."""
    verbs, nouns = _alternation(spec.verbs), _alternation(spec.nouns)
    suffix = "".join(slot.regex for slot in spec.slots)
    return [rf"\b(?:{verbs}) (?:me )?(?:my |the |all |some )?(?:{nouns})\b{suffix}"]


def make_specs(rng: random.Random) -> list[IntentSpec]:
    specs = []
    for action, verbs in ACTIONS:
        for topic, nouns in TOPICS:
            chosen = rng.sample(range(len(SLOTS)), rng.choice((1, 2)))
            specs.append(
                IntentSpec(
                    name=f"{action}_{topic}",
                    verbs=verbs,
                    nouns=nouns,
                    slots=tuple(SLOTS[i] for i in sorted(chosen)),
                    priority=rng.randint(0, 9),
                    component=f"{topic.capitalize()}View",
                )
            )
    return specs[:N_INTENTS]


def intent_definition(spec: IntentSpec) -> dict[str, Any]:
    action, topic = spec.name.split("_", 1)
    return {
        "name": spec.name,
        "description": f"{action.capitalize()} the user's {topic}",
        "component": spec.component,
        "version": "1.0.0",
        "parameters": {"type": "object", "properties": {s.name: s.schema for s in spec.slots}},
        "patterns": patterns_of(spec),
        "priority": spec.priority,
    }


def write_nl_registry(directory: Path, specs: Sequence[IntentSpec]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    names = sorted({s.component for s in specs})
    components = {name: component(name, i) for i, name in enumerate(names)}
    intents_path, components_path = directory / "intents.json", directory / "components.json"
    intents_path.write_text(json.dumps({"intents": [intent_definition(s) for s in specs]}, indent=1))
    components_path.write_text(json.dumps({"components": components}, indent=1))
    return intents_path, components_path


def priority_order(specs: Sequence[IntentSpec]) -> list[IntentSpec]:
    """The order the guide's matcher tries the intents in: priority, then registration."""
    return sorted(specs, key=lambda s: -s.priority)


# -- the messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    text: str
    kind: str  # "early", "late" or "none"
    intent: str | None  # the intent that must match


def _slot_value(slot: Slot, rng: random.Random) -> str:
    values = {
        "city": lambda: f" in {rng.choice(CITIES)}",
        "limit": lambda: f" top {rng.randint(1, 999)}",
        "maxPrice": lambda: f" under {rng.randint(1, 99999)}" + rng.choice(("", f".{rng.randint(10, 99)}")),
        "date": lambda: f" on 2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "sort": lambda: f" sorted by {rng.choice(SORTS)}",
        "ref": lambda: f" #{rng.randint(1000, 99_999_999)}",
        "giftWrap": lambda: f" gift wrap {rng.choice(('yes', 'no'))}",
    }
    return values[slot.name]()


def intent_message(spec: IntentSpec, rng: random.Random) -> str:
    verb, noun = rng.choice(spec.verbs), rng.choice(spec.nouns)
    slots = "".join(_slot_value(s, rng) for s in spec.slots if rng.random() < 0.8)
    core = f"{verb} {rng.choice(DETERMINERS)}{noun}"
    return f"{rng.choice(PREFIXES)}{core}{slots}{rng.choice(POSTFIXES)}"


def smalltalk_message(rng: random.Random) -> str:
    a, b = rng.sample(SMALLTALK_WORDS, 2)
    text = rng.choice(SMALLTALK).format(a=a, b=b, city=rng.choice(CITIES), n=rng.randint(1, 9999))
    return f"{rng.choice(PREFIXES)}{text}{rng.choice(POSTFIXES)} ({rng.randint(1, 10**6)})"


def make_messages(specs: Sequence[IntentSpec], rng: random.Random) -> list[Message]:
    """N_MESSAGES: thirds early / late / non-matching, shuffled, REPEAT_SHARE of them repeating a
    message sent at most REPEAT_DISTANCE before. Each one is checked against ixp's matcher."""
    matcher = IntentMatcher([(s.name, p, s.priority) for s in specs for p in patterns_of(s)])
    ordered = priority_order(specs)
    edge = max(1, int(len(ordered) * EDGE_SHARE))
    pools = {"early": ordered[:edge], "late": ordered[-edge:]}
    n_distinct = round(N_MESSAGES * (1 - REPEAT_SHARE))
    seen: set[str] = set()
    distinct: list[Message] = []
    kinds = ("early", "late", "none")
    while len(distinct) < n_distinct:
        kind = kinds[len(distinct) % 3]
        message = _candidate(kind, pools, rng)
        if message.text in seen or not _matches_as_expected(matcher, message):
            continue
        seen.add(message.text)
        distinct.append(message)
    rng.shuffle(distinct)
    return _with_repeats(distinct, rng)


def _candidate(kind: str, pools: dict[str, list[IntentSpec]], rng: random.Random) -> Message:
    if kind == "none":
        return Message(smalltalk_message(rng), kind, None)
    spec = rng.choice(pools[kind])
    return Message(intent_message(spec, rng), kind, spec.name)


def _matches_as_expected(matcher: IntentMatcher, message: Message) -> bool:
    found = matcher.match(message.text)
    return (found[0] if found else None) == message.intent


def _with_repeats(distinct: list[Message], rng: random.Random) -> list[Message]:
    out: list[Message] = []
    fresh = iter(distinct)
    while len(out) < N_MESSAGES:
        if len(out) > REPEAT_DISTANCE and rng.random() < REPEAT_SHARE:
            out.append(out[-rng.randint(1, REPEAT_DISTANCE)])
        else:
            out.append(next(fresh, None) or out[-rng.randint(1, REPEAT_DISTANCE)])
    return out


# -- targets, modes, wrk scripts ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    app: str


TARGETS = (
    Target("ixp", "ixp.app:app"),
    Target("python", "bench.baselines.python_matcher_app:app"),
)


@dataclass(frozen=True)
class Mode:
    name: str
    path: str
    per_request: int  # messages per request


MODES = (
    Mode("process", "/api/intents/process", 1),
    Mode("batch", "/api/intents/process/batch", BATCH_SIZE),
)

# Single messages: 200, or 404 NO_INTENT_MATCHED for a miss; anything else is counted and reported.
LUA_SINGLE = """
ok, miss, other, first_other = 0, 0, 0, ""
response = function(status, headers, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 404 and string.find(body, "NO_INTENT_MATCHED", 1, true) then
    miss = miss + 1
  else
    other = other + 1
    if other == 1 then first_other = status .. " " .. string.sub(body, 1, 300) end
  end
end
"""
# Batches: 200 with as many results as messages sent (each item was checked before the run).
LUA_BATCH = """
ok, miss, other, first_other = 0, 0, 0, ""
local tail = ',"count":{size}}'
response = function(status, headers, body)
  if status == 200 and string.sub(body, -#tail) == tail then
    ok = ok + 1
  else
    other = other + 1
    if other == 1 then first_other = status .. " " .. string.sub(body, 1, 300) end
  end
end
"""
LUA_DONE = """
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("NLSTATUS ok=%d miss=%d other=%d\\n", t:get("ok"), t:get("miss"), t:get("other")))
    local sample = t:get("first_other")
    if sample ~= "" then io.write("NLSAMPLE " .. sample .. "\\n") end
  end
end
"""


def request_bodies(mode: Mode, messages: Sequence[Message]) -> list[str]:
    texts = [m.text for m in messages]
    if mode.per_request == 1:
        return [json.dumps({"message": t}) for t in texts]
    step = mode.per_request
    return [json.dumps({"messages": texts[i : i + step]}) for i in range(0, len(texts), step)]


def write_mode_lua(mode: Mode, messages: Sequence[Message], work: Path) -> tuple[Path, int]:
    """The wrk script for `mode` and the number of distinct requests it cycles through."""
    bodies = request_bodies(mode, messages)
    checks = LUA_SINGLE if mode.per_request == 1 else LUA_BATCH.replace("{size}", str(mode.per_request))
    script = harness.write_cycle_lua(
        work / f"{mode.name}.lua",
        "POST",
        [(mode.path, body) for body in bodies],
        {"Content-Type": "application/json"},
        extra=harness.LUA_THREADS + checks + LUA_DONE,
    )
    return script, len(bodies)


# -- checks ---------------------------------------------------------------------------------------


def comparable(item: dict[str, Any]) -> Any:
    """A batch item without `cached` (which depends on what came before)."""
    return item["error"]["code"] if "error" in item else {k: v for k, v in item.items() if k != "cached"}


def pre_check(port: int, target: str, messages: Sequence[Message]) -> list[Any]:
    """Every message once through the batch endpoint: matched intents as generated, misses as
    404 NO_INTENT_MATCHED, nothing else. Returns the comparable items."""
    items: list[Any] = []
    for start in range(0, len(messages), PRE_CHECK_BATCH):
        chunk = messages[start : start + PRE_CHECK_BATCH]
        body = json.dumps({"messages": [m.text for m in chunk]}).encode()
        reply = harness.call(port, "POST", "/api/intents/process/batch", body)
        if reply.status != 200:
            raise harness.BenchError(f"{target} batch: HTTP {reply.status}: {reply.body[:300]!r}")
        results = reply.json()["results"]
        for message, item in zip(chunk, results, strict=True):
            check_item(target, message, item)
            items.append(comparable(item))
    return items


def check_item(target: str, message: Message, item: dict[str, Any]) -> None:
    if message.intent is None:
        error = item.get("error") or {}
        if error.get("status") != 404 or error.get("code") != MISS_CODE:
            raise harness.BenchError(f"{target}: {message.text!r} should not match, got {item!r:.300}")
    elif item.get("intent") != message.intent:
        expected = f"should match {message.intent}"
        raise harness.BenchError(f"{target}: {message.text!r} {expected}, got {item!r:.300}")


def status_counts(output: str) -> dict[str, int]:
    found = re.search(r"^NLSTATUS ok=(\d+) miss=(\d+) other=(\d+)", output, re.MULTILINE)
    if found is None:
        raise harness.BenchError(f"no NLSTATUS line in wrk output:\n{output}")
    return {"ok": int(found.group(1)), "miss": int(found.group(2)), "other": int(found.group(3))}


def match_cache(port: int) -> dict[str, int]:
    stats = harness.get_json(port, "/ixp/metrics")["matchCache"]
    return {"hits": int(stats["hits"]), "misses": int(stats["misses"])}


# -- one measurement ------------------------------------------------------------------------------


@dataclass
class Measurement:
    target: str
    mode: str
    rps: float
    msg_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_msg: float
    cache_hit_ratio: float | None
    miss_share: float  # responses (process) that were 404 NO_INTENT_MATCHED
    requests: int
    messages: int
    cpu_s: float
    seconds: float
    wrk_cpu_s: float
    other_cpu_s: float
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    duration: float
    warmup: float
    connections: int
    batch_connections: int
    match_cache_size: int
    quiet_wait: float


def measure(
    process_pid: int, port: int, target: str, mode: Mode, script: tuple[Path, int], config: Config
) -> Measurement:
    lua, cycle = script
    url = f"http://127.0.0.1:{port}{mode.path}"
    connections = config.connections if mode.per_request == 1 else config.batch_connections
    warm = harness.run_wrk(url, config.warmup, connections, lua, script_args=[str(cycle // 2)])
    check_statuses(warm, f"{target} {mode.name} warm-up")
    if config.quiet_wait > 0:
        harness.wait_until_quiet(config.quiet_wait)
    before = match_cache(port)
    result, cpu = harness.measure_cpu(
        process_pid, lambda: harness.run_wrk(url, config.duration, connections, lua, script_args=["0"])
    )
    after = match_cache(port)
    statuses = check_statuses(result, f"{target} {mode.name}")
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    messages = result.requests * mode.per_request
    return Measurement(
        target=target,
        mode=mode.name,
        rps=result.rps,
        msg_per_s=result.rps * mode.per_request,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us_per_msg=cpu.server_s * 1e6 / messages,
        cache_hit_ratio=hits / (hits + misses) if hits + misses else None,
        miss_share=statuses["miss"] / max(1, statuses["ok"] + statuses["miss"]),
        requests=result.requests,
        messages=messages,
        cpu_s=cpu.server_s,
        seconds=result.seconds,
        wrk_cpu_s=cpu.client_s,
        other_cpu_s=cpu.other_s,
        statuses=statuses,
    )


def check_statuses(result: harness.LoadResult, where: str) -> dict[str, int]:
    harness.check_load(result, where, allow_non_2xx=True)  # the 404s are counted by the script
    statuses = status_counts(result.output)
    if statuses["other"]:
        sample = re.search(r"^NLSAMPLE (.*)$", result.output, re.MULTILINE)
        detail = sample.group(1) if sample else ""
        raise harness.BenchError(f"{where}: {statuses['other']} unexpected responses, e.g. {detail}")
    return statuses


# -- the run --------------------------------------------------------------------------------------


def bench_target(
    target: Target,
    config: Config,
    env: dict[str, str],
    work: Path,
    messages: Sequence[Message],
    reference: list[list[Any]],
) -> list[Measurement]:
    port = harness.free_port()
    argv = harness.granian_argv("rsgi", target.app, port)
    rows = []
    with harness.server(target.name, argv, port, env, work / f"{target.name}.log") as process:
        print(f"  {target.name}: checking all {len(messages):,} messages ...", file=sys.stderr, flush=True)
        items = pre_check(port, target.name, messages)
        if reference and items != reference[0]:
            diff = next(i for i, (a, b) in enumerate(zip(items, reference[0], strict=True)) if a != b)
            raise harness.BenchError(
                f"{target.name} answers {messages[diff].text!r} differently: "
                f"{items[diff]!r:.300} vs {reference[0][diff]!r:.300}"
            )
        reference.append(items)
        for mode in MODES:
            print(f"  {target.name}: {mode.path} ...", file=sys.stderr, flush=True)
            script = write_mode_lua(mode, messages, work)
            rows.append(measure(process.pid, port, target.name, mode, script, config))
    return rows


def run(config: Config, work: Path) -> tuple[list[Measurement], dict[str, Any]]:
    rng = random.Random(SEED)
    specs = make_specs(rng)
    intents_path, components_path = write_nl_registry(work / "registry", specs)
    started = time.perf_counter()
    messages = make_messages(specs, rng)
    print(f"generated {len(messages):,} messages in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    env = harness.server_env(
        {
            "IXP_INTENTS": str(intents_path),
            "IXP_COMPONENTS": str(components_path),
            "IXP_SQLITE_PATH": str(work / "ixp.db"),
            "IXP_MATCH_CACHE_SIZE": str(config.match_cache_size),
            "IXP_RELOAD": "false",
        }
    )
    reference: list[list[Any]] = []
    rows: list[Measurement] = []
    for target in TARGETS:
        print(f"{target.name} ...", file=sys.stderr, flush=True)
        rows += bench_target(target, config, env, work, messages, reference)
    return rows, describe_data(specs, messages)


def describe_data(specs: Sequence[IntentSpec], messages: Sequence[Message]) -> dict[str, Any]:
    kinds = {k: sum(1 for m in messages if m.kind == k) for k in ("early", "late", "none")}
    return {
        "intents": len(specs),
        "patterns": sum(len(patterns_of(s)) for s in specs),
        "messages": len(messages),
        "distinct": len({m.text for m in messages}),
        "kinds": kinds,
    }


# -- output ---------------------------------------------------------------------------------------


def table(rows: Sequence[Measurement]) -> str:
    header = (
        "target", "endpoint", "req/s", "msg/s", "p50 ms", "p99 ms", "CPU us/msg", "cache hits",
        "404 share", "other CPU",
    )  # fmt: skip
    lines = [
        (
            m.target,
            m.mode,
            f"{m.rps:,.0f}",
            f"{m.msg_per_s:,.0f}",
            f"{m.p50_ms:.2f}",
            f"{m.p99_ms:.2f}",
            f"{m.cpu_us_per_msg:.1f}",
            harness.percent(m.cache_hit_ratio or 0.0, 1.0) if m.cache_hit_ratio is not None else "-",
            harness.percent(m.miss_share, 1.0) if m.mode == "process" else "-",
            harness.percent(m.other_cpu_s, m.seconds),
        )
        for m in rows
    ]
    return harness.markdown_table(header, lines)


def ratios(rows: Sequence[Measurement]) -> list[dict[str, Any]]:
    by_key = {(m.target, m.mode): m for m in rows}
    out = []
    for mode in MODES:
        ours, theirs = by_key[("ixp", mode.name)], by_key[("python", mode.name)]
        out.append(
            {
                "endpoint": mode.name,
                "msg_per_s_ixp_over_python": ours.msg_per_s / theirs.msg_per_s,
                "cpu_us_per_msg_ixp_over_python": ours.cpu_us_per_msg / theirs.cpu_us_per_msg,
            }
        )
    return out


def ratio_table(results: Sequence[dict[str, Any]]) -> str:
    header = ("endpoint", "msg/s ixp/python", "CPU us/msg ixp/python", "python CPU / ixp CPU")
    lines = [
        (
            r["endpoint"],
            f"{r['msg_per_s_ixp_over_python']:,.1f}",
            f"{r['cpu_us_per_msg_ixp_over_python']:.4f}",
            f"{1 / r['cpu_us_per_msg_ixp_over_python']:,.0f}x",
        )
        for r in results
    ]
    return harness.markdown_table(header, lines, left=1)


def environment() -> dict[str, Any]:
    return {
        **harness.machine(),
        "packages": harness.package_versions(("granian", "msgspec")),
        "wrk": harness.tool_banner(["wrk", "--version"]),
    }


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 s runs and 1 s warm-ups")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections, single (32)")
    parser.add_argument("--batch-connections", type=int, default=8, help="wrk connections, batch (8)")
    parser.add_argument(
        "--match-cache-size", type=int, default=MATCH_CACHE_SIZE,
        help=f"IXP_MATCH_CACHE_SIZE of both targets (default {MATCH_CACHE_SIZE})",
    )  # fmt: skip
    parser.add_argument(
        "--quiet-wait", type=float, default=0.0, metavar="S",
        help="before each measured run, wait up to S s for other processes to go below 20%% of a core",
    )  # fmt: skip
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 10.0)
    if duration < 1 or min(args.connections, args.batch_connections, args.match_cache_size) < 1:
        parser.error("--duration must be >= 1 s; connections and --match-cache-size >= 1")
    warmup = 1.0 if args.quick else 2.0
    return Config(
        duration,
        warmup,
        args.connections,
        args.batch_connections,
        args.match_cache_size,
        max(0.0, args.quiet_wait),
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ixp-nl-bench-") as tmp:
        try:
            rows, data = run(config, Path(tmp))
        except harness.BenchError as exc:
            print(f"\nBENCHMARK ABORTED: {exc}", file=sys.stderr)
            return 1
    command = harness.command_line("nl_bench.py", argv)
    print(f"\n$ {command}   ({time.monotonic() - started:.0f} s)\n")
    kinds = data["kinds"]
    print(
        f"{data['intents']:,} intents ({data['patterns']:,} patterns), {data['messages']:,} messages "
        f"({data['distinct']:,} distinct; {kinds['early']:,} early, {kinds['late']:,} late, "
        f"{kinds['none']:,} non-matching); batches of {BATCH_SIZE}; "
        f"IXP_MATCH_CACHE_SIZE={config.match_cache_size}\n"
    )
    print(table(rows))
    compared = ratios(rows)
    print()
    print(ratio_table(compared))
    shares = [(f"{m.target} {m.mode}", m.other_cpu_s / m.seconds) for m in rows]
    warning = harness.noise_warning(shares, QUIET_ADVICE)
    if warning:
        print("\n" + warning)
    harness.report("nl_bench", command, config, environment(), rows, data=data, ratios=compared)
    return 0


if __name__ == "__main__":
    sys.exit(main())
