"""Every alert rule is checked and unit-tested by the real promtool (Debian's prometheus package)."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from ..helpers import ROOT

RULES = ROOT / "ops" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: the test command installs Debian's prometheus package"
    return subprocess.run([tool, *args], cwd=RULES, capture_output=True, text=True, timeout=120)


def test_the_alert_rules_are_valid() -> None:
    done = promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_on_its_series_and_stays_quiet_on_healthy_ones() -> None:
    done = promtool("test", "rules", "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    tests = yaml.safe_load((RULES / "alerts.test.yml").read_text())["tests"]
    cases = [case for t in tests for case in t["alert_rule_test"]]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts == fires, f"alerts never shown to fire: {sorted(alerts - fires)}"
    assert alerts == quiet, f"alerts never shown to stay quiet: {sorted(alerts - quiet)}"
