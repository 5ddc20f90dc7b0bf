#!/usr/bin/env bash
# The test command (README.md, "Run the tests"): installs what the tests need on a fresh machine of
# this kind, builds the wheel, and runs every check. `.ci/run` calls exactly this.
#
#   1. Debian's redis-server and postgresql (apt-get, only if missing), started on loopback with
#      throwaway data directories (.ci/services.sh), stopped again on exit; Debian's chromium
#      (browser tests, driven by Playwright), haproxy (the cluster tests start their own, on
#      loopback) and prometheus (for promtool), each apt-get installed only if missing; Debian's prometheus
#      (apt-get, only if missing) for promtool, which checks and unit-tests deploy/prometheus;
#   2. a virtualenv (.venv) with the wheel built by maturin (release profile) and the test extras;
#   3. cargo test, clippy and rustfmt for the Rust workspace;
#   4. ruff, mypy --strict, mypy.stubtest for the hand-written ixp._core stub, and import-linter
#      (the package's layers, pyproject.toml [tool.importlinter]);
#   5. pytest (in-process ASGI, real Granian processes, real Redis and PostgreSQL, schemathesis
#      against a live server from its OpenAPI description, chromium on the pages and ixp.js);
#   6. the load-test smoke run (locust, <= 60 s; fails if the error rate is >= 0.1 %).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
step() { printf '\n==> %s\n' "$*"; }

step "services: Redis and PostgreSQL on loopback"
export IXP_SERVICES_DIR="${IXP_SERVICES_DIR:-$(mktemp -d /tmp/ixp-services.XXXXXX)}"
trap 'bash "$ROOT/.ci/services.sh" stop || true' EXIT
bash .ci/services.sh start
# shellcheck disable=SC1091
source "$IXP_SERVICES_DIR/env"

# need COMMAND PACKAGE: installs Debian's PACKAGE when COMMAND is missing.
need() {
    command -v "$1" >/dev/null && return
    [ "$(id -u)" = 0 ] || { echo "$1 missing and not root: apt-get install $2" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$2"
}

step "browser: Debian's chromium for the browser tests"
need chromium chromium
chromium --version

step "load balancer: Debian's haproxy for the cluster tests (tests/cluster, bench/cluster.py)"
need haproxy haproxy
haproxy -v | head -n 1

step "promtool: Debian's prometheus for the deployment kit's rule tests (deploy/prometheus)"
need promtool prometheus
promtool --version

step "python: virtualenv, wheel (maturin, release) and test dependencies"
VENV="${IXP_VENV:-$ROOT/.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q ".[test,bench]"

step "rust: cargo test, clippy, rustfmt"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test -p ixp-core --quiet

step "python: ruff, mypy, stubtest, import-linter"
ruff check python tests bench
ruff format --check python tests bench
mypy python/ixp
python -m mypy.stubtest ixp._core
lint-imports

step "pytest"
# Against the installed wheel: `tests` is a package, so only the repository root (where there is no
# `ixp` directory) is put on sys.path.
python -m pytest -q -p no:cacheprovider "$@"

step "load-test smoke run (locust)"
python -m bench.load --smoke
