"""The badge (issue 20, 4): a shields.io endpoint JSON from the run's statuses."""

from __future__ import annotations

import json

import pytest

from pytest_flopbudget.reporting.badge import badge
from tests.plugin.test_fail_on_increase import GROWTH_AFTER, GROWTH_BEFORE
from tests.support import TREE_MODELS, write_pyproject, write_tests


def endpoint(message: str, color: str) -> dict:
    return {"schemaVersion": 1, "label": "FLOP budget", "message": message, "color": color}


@pytest.mark.parametrize(
    ("kinds", "message", "color"),
    [
        (["ok"] * 10 + ["new", "updated"], "12/12 within budget", "green"),
        (["over:flops", "ok", "over:params"], "2 over budget", "red"),
        (["warn:flops", "ok"], "⚠️ 1 grew", "yellow"),
        # failures win over warnings, counted worst first; a warning is then not counted
        (
            ["grew:flops", "warn:flops", "over:flops", "error:module", "uncounted", "failed"],
            "1 over budget, 1 budget error, 1 grew, 1 uncounted, 1 failed",
            "red",
        ),
        (["no-module-work"], "1/1 within budget", "green"),
        ([], "no budgeted tests", "lightgrey"),
    ],
)
def test_badge_message_and_colour(kinds, message, color):
    assert badge(kinds) == endpoint(message, color)


def test_flop_report_badge_writes_the_endpoint_json(pytester):
    write_pyproject(
        pytester, '[tool.flopbudget]\nfail_on_increase = "5%"\nwarn_on_increase = "2%"\n'
    )
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest("--flop-report=badge:out/badge.json").assert_outcomes(passed=3)
    written = (pytester.path / "out" / "badge.json").read_text(encoding="utf-8")
    assert json.loads(written) == endpoint("3/3 within budget", "green")
    # +100% fails one test, +4.8% warns another: red, and only the failure counted
    write_tests(pytester, TREE_MODELS, GROWTH_AFTER)
    pytester.runpytest("--flop-report=badge:out/badge.json").assert_outcomes(passed=2, failed=1)
    written = (pytester.path / "out" / "badge.json").read_text(encoding="utf-8")
    assert json.loads(written) == endpoint("1 grew", "red")
    # without fail_on_increase both grown tests only warn
    write_pyproject(pytester, '[tool.flopbudget]\nwarn_on_increase = "2%"\n')
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest().assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, GROWTH_AFTER)
    pytester.runpytest("--flop-report=badge:out/badge.json").assert_outcomes(passed=3)
    written = (pytester.path / "out" / "badge.json").read_text(encoding="utf-8")
    assert json.loads(written) == endpoint("⚠️ 2 grew", "yellow")
