"""The performance guide's load test ("Load Testing", Artillery config) as locust scenarios.

    IXP_LOAD_PAYLOAD=payload.csv IXP_LOAD_SCALE=0.1 \
        locust -f bench/locustfile.py --headless --host http://127.0.0.1:8000

`python -m bench.load` starts ixp, writes the payload and runs this file; see bench/LOAD.md.

- "Intent Processing" (weight 70): POST /api/intents/process {message, userId} from the payload,
  think time 1 s. 404 NO_INTENT_MATCHED (the payload's misses) is a success; any other non-200 —
  404 USER_NOT_FOUND included — is a failure.
- "User Session" (weight 30): GET /api/users/{userId}/session, think time 2 s.
- Phases: warm up 60 s at 10 users, ramp up 120 s at 50, sustained 300 s at 100; durations ×
  IXP_LOAD_SCALE and users × IXP_LOAD_USERS_SCALE (default: IXP_LOAD_SCALE).
"""

from __future__ import annotations

import itertools
import os
import random
import sys
from pathlib import Path

from locust import FastHttpUser, LoadTestShape, constant, task

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # locust puts only bench/ on the path

from bench import load_model
from bench.payload import auth_header, read_csv

PAYLOAD = read_csv(Path(os.environ.get("IXP_LOAD_PAYLOAD", "payload.csv")))
SCALE = float(os.environ.get("IXP_LOAD_SCALE", "1.0"))
USERS_SCALE = float(os.environ.get("IXP_LOAD_USERS_SCALE", str(SCALE)))
PHASES = load_model.guide_phases(SCALE, USERS_SCALE)


class PayloadUser(FastHttpUser):
    """A virtual user that walks the payload from a random row."""

    abstract = True
    default_headers = auth_header()  # the load's API key (README, "Security")

    def on_start(self) -> None:
        start = random.randrange(len(PAYLOAD))
        self.rows = itertools.cycle(PAYLOAD[start:] + PAYLOAD[:start])


class IntentProcessing(PayloadUser):
    weight = load_model.PROCESS_WEIGHT
    wait_time = constant(load_model.PROCESS_THINK_S)

    @task
    def process(self) -> None:
        user_id, message = next(self.rows)
        body = {"message": message, "userId": user_id}
        with self.client.post(load_model.PROCESS_ROUTE, json=body, catch_response=True) as response:
            reason = load_model.process_failure(response.status_code, response.text or "")
            if reason is None:
                response.success()
            else:
                response.failure(reason)


class UserSession(PayloadUser):
    weight = load_model.SESSION_WEIGHT
    wait_time = constant(load_model.SESSION_THINK_S)

    @task
    def session(self) -> None:
        user_id, _ = next(self.rows)
        path = f"/api/users/{user_id}/session"
        with self.client.get(path, name=load_model.SESSION_ROUTE, catch_response=True) as response:
            reason = load_model.session_failure(response.status_code, response.text or "")
            if reason is None:
                response.success()
            else:
                response.failure(reason)


class GuidePhases(LoadTestShape):
    """Warm up, ramp up, sustained: the guide's phases, scaled."""

    def tick(self) -> tuple[int, float] | None:
        return load_model.shape_tick(PHASES, self.get_run_time())
