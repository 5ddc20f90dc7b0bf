"""Schemathesis, from PyPI, against a live ixp (Granian on a loopback port), from the OpenAPI
description ixp serves: bounded (examples per operation, a fixed seed, a time cap) with its checks
for server errors, response schema conformance, documented status codes and content types.

Its summary and a JUnit report are kept in .ci/tmp/artefacts/schemathesis/ (git-ignored).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests._servers import free_port, granian_command, running
from tests._support import artefacts

pytestmark = [pytest.mark.granian, pytest.mark.fuzz]

SEED = 17
MAX_EXAMPLES = 200  # per operation; the time cap below bounds the whole run
MAX_SECONDS = 120
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
CLI = (
    "import sys; from schemathesis.cli import schemathesis; "
    "sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())"
)


def schemathesis_command(url: str, report: Path) -> list[str]:
    return [
        sys.executable, "-c", CLI, "run", url,
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED),
        "--max-time", str(MAX_SECONDS),
        "--phases", "examples,coverage,fuzzing",
        "--generation-database", "none",
        "--request-timeout", "10",
        "--report", "junit", "--report-junit-path", str(report),
        "--no-color",
    ]  # fmt: skip


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    out = artefacts("schemathesis")
    port = free_port()
    env = {"IXP_SQLITE_PATH": str(tmp_path / "ixp.db"), "IXP_LOG_LEVEL": "error"}
    with running(granian_command(port), port, env):
        url = f"http://127.0.0.1:{port}/ixp/api-docs.json"
        result = subprocess.run(
            schemathesis_command(url, out / "junit.xml"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=MAX_SECONDS + 60,
        )
    output = result.stdout + result.stderr
    (out / "summary.txt").write_text(output)
    assert result.returncode == 0, output[-6000:]
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert tested is not None and int(tested.group(1)) >= 18, output[-3000:]
    assert cases is not None and cases.group(1) == cases.group(2), output[-3000:]
    assert int(cases.group(1)) >= 18 * 50, output[-3000:]  # a few hundred examples per operation
