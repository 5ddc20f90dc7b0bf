"""Throughput of 1 node against 3 nodes behind HAProxy, in one run (bench/cluster.py's cluster).

    python -m bench.cluster_bench [--duration S] [--connections N] [--workers W]

Each shape serves the same requests: `GET /ixp/intents` (a registry body) and a valid
`POST /ixp/render`, driven by wrk through HAProxy, with the node counts' ratio. Every node is
`granian --workers W` on loopback with SQLite of its own (no shared store is needed for these
routes; the cluster metrics publish through each host's directory). On a 2-core machine the nodes,
HAProxy and wrk share two cores: 3 nodes cannot be faster than 1 here, and the figure shows what the
balancer and the extra processes cost, not what 3 hosts would give.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import harness
from bench.cluster import Cluster

RENDER = {"intent": {"name": "show_products", "parameters": {"category": "books", "limit": 5}}}


def measure(cluster: Cluster, seconds: float, connections: int, work: Path) -> dict[str, Any]:
    lua = harness.write_lua(
        work / "render.lua", "POST", json.dumps(RENDER), {"content-type": "application/json"}
    )
    results: dict[str, Any] = {}
    for name, path, script in (("intents", "/ixp/intents", None), ("render", "/ixp/render", lua)):
        harness.run_wrk(cluster.url + path, 1, connections, script)  # warm-up
        result = harness.run_wrk(cluster.url + path, seconds, connections, script)
        harness.check_load(result, f"{name} through HAProxy")
        results[name] = {"rps": round(result.rps), "p50Ms": result.p50_ms, "p99Ms": result.p99_ms}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--workers", type=int, default=2, help="Granian workers per node (default 2)")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "workersPerNode": args.workers}
    with tempfile.TemporaryDirectory(prefix="ixp-cluster-bench-") as tmp:
        for nodes in (1, 3):
            with Cluster(nodes=nodes, workers=args.workers, env={"IXP_LOG_LEVEL": "error"}) as cluster:
                figures[f"{nodes}node"] = measure(cluster, args.duration, args.connections, Path(tmp))
    for route in ("intents", "render"):
        one, three = figures["1node"][route]["rps"], figures["3node"][route]["rps"]
        figures[f"ratio3to1_{route}"] = round(three / one, 3) if one else None
        print(f"{route:8} 1 node {one:>7} req/s   3 nodes {three:>7} req/s   ratio {three / one:.2f}")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
