"""A real cluster on loopback: N ixp nodes (`granian --workers W` each) sharing one PostgreSQL and one
Redis, behind HAProxy, which health-checks every node on its readiness probe.

Used by the cluster tests (tests/cluster/) and by `bench/cluster_bench.py`. Every process listens
on 127.0.0.1 only and is stopped on exit; nodes are killed with SIGKILL if they do not stop.

    with Cluster(nodes=3, workers=2, database_url=..., redis_url=...) as cluster:
        httpx.get(cluster.url + "/ixp/intents")
        cluster.kill(0)                 # kill -9 a node's main process and workers
        cluster.terminate(1)            # SIGTERM: drain, then stop
        cluster.start_node(1)           # start it again on the same port
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from bench import harness

START_TIMEOUT_S = 60.0
CHECK_INTERVAL_MS = 300  # HAProxy's health-check period (and fall/rise of 2 checks)


def haproxy_config(port: int, stats_port: int, nodes: Mapping[str, int]) -> str:
    servers = "\n".join(f"    server {name} 127.0.0.1:{node_port} check" for name, node_port in nodes.items())
    return f"""global
    maxconn 4096
    log stderr format short local0 warning

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 5s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    option forwardfor
    option http-buffer-request  # the whole request kept, so a failed attempt can be retried

frontend ixp
    bind 127.0.0.1:{port}
    default_backend nodes

frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
    stats refresh 1s

backend nodes
    balance roundrobin
    option httpchk GET /ixp/health/ready
    http-check expect status 200
    default-server inter {CHECK_INTERVAL_MS}ms fastinter {CHECK_INTERVAL_MS}ms fall 2 rise 2
{servers}
"""


@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Cluster:
    nodes: int = 3
    workers: int = 2
    database_url: str | None = None
    redis_url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    members: list[Node] = field(default_factory=list)
    port: int = 0
    stats_port: int = 0
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ixp-cluster-")))
    _haproxy: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def node_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.members[index].port}"

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if shutil.which("haproxy") is None:
            raise RuntimeError("haproxy is not installed (apt-get install haproxy; the test command does it)")
        base = harness.server_env(
            {
                "IXP_LOG_LEVEL": "warning",
                "IXP_METRICS_FLUSH_SECONDS": "0.2",
                "IXP_TRUSTED_PROXIES": "127.0.0.1",
                "IXP_DRAIN_SECONDS": "1.5",  # > HAProxy's detection: 2 failed checks 300 ms apart
                **({"IXP_DATABASE_URL": self.database_url} if self.database_url else {}),
                **({"IXP_REDIS_URL": self.redis_url} if self.redis_url else {}),
                **self.env,
            }
        )
        if not self.database_url:
            base["IXP_SQLITE_PATH"] = str(self.work / "ixp.db")
        for index in range(self.nodes):
            name = f"node{index + 1}"
            env = {**base, "IXP_NODE_NAME": name}
            self.members.append(Node(name, harness.free_port(), env, self.work / f"{name}.log"))
        for index in range(self.nodes):
            self.start_node(index, wait=False)
        for index in range(self.nodes):
            self.wait_ready(index)
        self.port, self.stats_port = harness.free_port(), harness.free_port()
        config = self.work / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, self.stats_port, {n.name: n.port for n in self.members}))
        with open(self.work / "haproxy.log", "wb") as log:
            self._haproxy = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_routing(set(range(self.nodes)))

    def start_node(self, index: int, wait: bool = True) -> None:
        node = self.members[index]
        argv = [
            sys.executable, "-m", "granian", "--interface", "rsgi", "--workers", str(self.workers),
            "--no-ws", "--log-level", "warning", "--host", "127.0.0.1", "--port", str(node.port), "ixp.app",
        ]  # fmt: skip
        with open(node.log_path, "ab") as log:
            # Its own process group: kill -9 reaches the main process and its workers.
            node.process = subprocess.Popen(
                argv,
                cwd=self.work,
                env=node.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready(index)

    def wait_ready(self, index: int) -> None:
        node = self.members[index]
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if node.process is None or node.process.poll() is not None:
                raise RuntimeError(f"{node.name} exited:\n{harness.tail(node.log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.node_url(index)}/ixp/health/ready", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} not ready within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def server_states(self) -> dict[str, str]:
        """HAProxy's view of each node: UP, DOWN, or a transition like "UP 1/2"."""
        text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2).text
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "nodes" and row["svname"].startswith("node")
        }

    def wait_routing(self, indexes: set[int], timeout: float = 30.0) -> float:
        """Wait until HAProxy routes to exactly the nodes `indexes`; returns the seconds it took."""
        started = time.monotonic()
        wanted = {self.members[i].name for i in indexes}
        while True:
            with contextlib.suppress(httpx.TransportError):
                states = self.server_states()
                up = {name for name, state in states.items() if state == "UP"}
                if up == wanted:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"HAProxy did not route to {sorted(wanted)} within {timeout:.0f} s")
            time.sleep(0.05)

    def kill(self, index: int) -> None:
        """kill -9 of the node: its main process and every worker."""
        node = self.members[index]
        if node.process is not None and node.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(timeout=10)

    def terminate(self, index: int, timeout: float = 60.0) -> None:
        """SIGTERM to the node's main process (as an orchestrator does); waits until it exits."""
        node = self.members[index]
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)
            try:
                node.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(index)
                raise RuntimeError(f"{node.name} did not stop within {timeout:.0f} s") from None

    def stop(self) -> None:
        if self._haproxy is not None and self._haproxy.poll() is None:
            self._haproxy.terminate()
            try:
                self._haproxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._haproxy.kill()
        for index, node in enumerate(self.members):
            if node.process is not None and node.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signal.SIGTERM)
                try:
                    node.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.kill(index)

    def logs(self) -> str:
        return "\n".join(f"--- {n.name}\n{harness.tail(n.log_path)}" for n in self.members)


@contextlib.contextmanager
def running(**options: object) -> Iterator[Cluster]:
    with Cluster(**options) as cluster:  # type: ignore[arg-type]
        yield cluster
