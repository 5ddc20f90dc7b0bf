"""deploy/prometheus: the alerting rules and the scrape configuration, checked by Prometheus's own
promtool (Debian's `prometheus` package; scripts/test.sh installs it), and the rules' unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests._support import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `apt-get install prometheus` (scripts/test.sh installs it)"
    return subprocess.run([path, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)}:\n{result.stdout}{result.stderr}"


def test_rules_are_valid_and_lint_clean() -> None:
    assert_ok(promtool("check", "rules", "--lint=all", "--lint-fatal", "alerts.yml"))


def test_rules_unit_tests_pass() -> None:
    assert_ok(promtool("test", "rules", "alerts_test.yml"))


def test_scrape_config_is_valid() -> None:
    # --syntax-only: the bearer-key file exists only in the Prometheus pod (rules: checked above).
    assert_ok(promtool("check", "config", "--syntax-only", "prometheus.yml"))


def test_every_alert_has_a_unit_test_that_makes_it_fire() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"] for test in tests for case in test["alert_rule_test"] if case.get("exp_alerts")
    }
    assert alerts == fired, f"alerts without a firing test: {alerts - fired}"


def test_promtool_fails_on_a_broken_rule_and_a_wrong_expectation(tmp_path: Path) -> None:
    # The checks above mean something only if promtool's exit code reports these.
    (tmp_path / "bad.yml").write_text("groups: [{name: g, rules: [{alert: A, expr: 'sum(up'}]}]\n")
    assert promtool("check", "rules", "bad.yml", cwd=tmp_path).returncode != 0
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path)
    (tmp_path / "wrong_test.yml").write_text(
        "rule_files: [alerts.yml]\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series: [{series: 'up{job=\"ixp\",instance=\"a\"}', values: '1x10'}]\n"
        "    alert_rule_test: [{eval_time: 8m, alertname: IXPTargetDown,"
        " exp_alerts: [{exp_labels: {severity: warning, job: ixp, instance: a}}]}]\n"
    )
    assert promtool("test", "rules", "wrong_test.yml", cwd=tmp_path).returncode != 0
