"""The load tests' CSV payload (`userId,message`), as the guide's Artillery config reads it.

    python -m bench.payload --url http://127.0.0.1:8000 [--users 50] [--rows 1000] [--out payload.csv]

Users are created through the API (`POST /api/users`), so every `userId` in the payload exists in
the server's store, whatever the backend. Messages mix hits on the bundled example intents
(python/ixp/examples/intents.json) with a share of misses (~10 %: random words that no pattern
matches, answered 404 `NO_INTENT_MATCHED`, an expected outcome).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

DEFAULT_USERS = 50
DEFAULT_ROWS = 1000
DEFAULT_MISS_RATIO = 0.1

CATEGORIES = ("electronics", "books", "clothing", "home")
CITIES = ("Oslo", "Paris", "Lisbon", "Nairobi", "Kyoto", "Buenos Aires", "Reykjavik", "Montreal")
NAMES = ("Ada", "Grace", "Alan", "Linus", "Barbara", "Edsger", "Margaret", "Dennis")
TOPICS = ("billing", "technical", "account")
QUESTIONS = ("return a parcel", "change my address", "reset my password", "cancel an order")
# Words that none of the bundled patterns contains: a message made of them matches no intent.
MISS_WORDS = (
    "zebra", "quantum", "violet", "marble", "lantern", "orbit", "cactus", "pebble", "saffron",
    "tundra", "walnut", "glacier", "harbor", "meadow", "nimbus", "origami", "pixel", "quartz",
    "ripple", "sonnet", "tulip", "umber", "velvet", "willow", "yonder", "zephyr", "mosaic",
)  # fmt: skip

PostJson = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


class Row(NamedTuple):
    user_id: int
    message: str
    expect_match: bool  # False for the deliberate misses (not written to the CSV)


def _order_id(rng: random.Random) -> str:
    letters = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2))
    return f"{letters}{rng.randrange(10**6):06d}"


HIT_TEMPLATES: tuple[Callable[[random.Random], str], ...] = (
    lambda r: f"show me {r.choice(CATEGORIES)}",
    lambda r: f"top {r.randint(1, 50)} {r.choice(CATEGORIES)}",
    lambda r: f"weather in {r.choice(CITIES)} for {r.randint(1, 14)} days",
    lambda r: f"will it rain in {r.choice(CITIES)}?",
    lambda r: f"track my order {_order_id(r)}",
    lambda r: f"hello, I'm {r.choice(NAMES)}",
    lambda r: (
        f"book an appointment on 2025-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
        f"at {r.randint(8, 18)}:{r.choice(('00', '15', '30', '45'))}"
    ),
    lambda r: f"{r.choice(TOPICS)} problem",
    lambda r: f"how do I {r.choice(QUESTIONS)}",
    lambda r: r.choice(("deals", "any promotions today?", "discounts please")),
)


def hit_message(rng: random.Random) -> str:
    """A message that one of the bundled intents matches, with valid parameters."""
    return rng.choice(HIT_TEMPLATES)(rng)


def miss_message(rng: random.Random) -> str:
    """Two to four random words that no bundled intent matches."""
    return " ".join(rng.sample(MISS_WORDS, rng.randint(2, 4)))


def build_rows(
    user_ids: Sequence[int], count: int, miss_ratio: float = DEFAULT_MISS_RATIO, seed: int = 0
) -> list[Row]:
    """`count` rows over `user_ids`; exactly round(count * miss_ratio) of them are misses."""
    if not user_ids:
        raise ValueError("build_rows needs at least one user id")
    if count < 1 or not 0.0 <= miss_ratio <= 1.0:
        raise ValueError(f"count must be ≥ 1 and miss_ratio within [0, 1], got {count}, {miss_ratio}")
    rng = random.Random(seed)
    misses = round(count * miss_ratio)
    kinds = [False] * misses + [True] * (count - misses)
    rng.shuffle(kinds)
    return [
        Row(user_ids[i % len(user_ids)], hit_message(rng) if hit else miss_message(rng), hit)
        for i, hit in enumerate(kinds)
    ]


def write_csv(rows: Sequence[Row], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["userId", "message"])
        writer.writerows((row.user_id, row.message) for row in rows)


def read_csv(path: Path) -> list[tuple[int, str]]:
    """(userId, message) pairs of a payload file."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [(int(record["userId"]), record["message"]) for record in csv.DictReader(handle)]


def auth_header() -> dict[str, str]:
    """`Authorization` with the load's API key (`IXP_LOAD_API_KEY`), when there is one."""
    key = os.environ.get("IXP_LOAD_API_KEY")
    return {"authorization": f"Bearer {key}"} if key else {}


def http_post_json(base_url: str, timeout: float = 10.0) -> PostJson:
    """A `PostJson` that sends to `base_url` with the standard library (status, decoded body)."""

    def post(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            base_url.rstrip("/") + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", **auth_header()},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    return post


def create_users(post: PostJson, count: int, token: str | None = None) -> list[int]:
    """Create `count` users through `POST /api/users`; return their ids (201 expected for each)."""
    token = token or secrets.token_hex(4)  # unique emails: a shared PostgreSQL keeps earlier runs
    ids = []
    for index in range(count):
        body = {"email": f"load-{token}-{index}@example.com", "name": f"Load User {index}"}
        status, answer = post("/api/users", body)
        if status != 201 or not isinstance(answer.get("id"), int):
            raise RuntimeError(f"POST /api/users answered {status}: {answer}")
        ids.append(answer["id"])
    return ids


def generate(
    post: PostJson,
    out: Path,
    users: int = DEFAULT_USERS,
    rows: int = DEFAULT_ROWS,
    miss_ratio: float = DEFAULT_MISS_RATIO,
    seed: int = 0,
) -> list[Row]:
    """Create the users, build the rows and write the CSV; return the rows."""
    built = build_rows(create_users(post, users), rows, miss_ratio, seed)
    write_csv(built, out)
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--url", required=True, help="base URL of a running ixp server")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--miss-ratio", type=float, default=DEFAULT_MISS_RATIO)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("payload.csv"))
    args = parser.parse_args(argv)
    built = generate(http_post_json(args.url), args.out, args.users, args.rows, args.miss_ratio, args.seed)
    misses = sum(not row.expect_match for row in built)
    print(f"{args.out}: {len(built)} rows, {args.users} users, {misses} misses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
