"""example_project's GitHub workflow: the CI recipe of the docs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

# --- the CI recipe -------------------------------------------------------------------------------

WORKFLOW = Path(__file__).parents[2] / "example_project" / ".github" / "workflows"


def commands(step: dict) -> list[list[str]]:
    """The pytest command lines of a `run:` step, as argument lists (continuations joined)."""
    script = step.get("run", "").replace("\\\n", " ")
    return [
        shlex.split(line.split("||")[0])
        for line in script.splitlines()
        if line.strip().startswith("pytest ")
    ]


def option(argv: list[str], name: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{name}=")]


def test_the_ci_recipe_is_a_workflow_that_gates_the_pull_request_on_the_base_branch():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((WORKFLOW / "flop-budget.yml").read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert all(isinstance(step, dict) and ("run" in step or "uses" in step) for step in steps)

    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert any("git worktree add" in s.get("run", "") for s in steps)
    assert any("github.event.pull_request.base.sha" in json.dumps(s) for s in steps)

    runs = [(step, argv) for step in steps for argv in commands(step)]
    (base_step, base), (pr_step, pr) = [(s, a) for s, a in runs if a[0] == "pytest"]
    assert "--flop-budget-disable" in base and "|| true" in base_step["run"]
    (base_report,) = option(base, "--flop-report")
    assert base_report.startswith("json:")
    assert option(pr, "--flop-baseline") == [base_report.removeprefix("json:")]
    assert option(pr, "--flop-fail-on-increase") == ["5%"]
    reports = option(pr, "--flop-report")
    assert "markdown:$GITHUB_STEP_SUMMARY" in reports
    (pr_report,) = [r.removeprefix("json:") for r in reports if r.startswith("json:")]

    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == pr_report
    assert upload.get("if") == "always()"
    assert steps.index(base_step) < steps.index(pr_step) < steps.index(upload)
