"""--flop-history (issue 20, 3): one JSON line per run; read up to a bad line with one warning,
never a traceback; the entries, then this run's, as Run.history; flopbudget history PATH [TEST]."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

from pytest_flopbudget import cli
from pytest_flopbudget.reporting.formats import FORMATS, Format
from pytest_flopbudget.reporting.history import append_history, read_history
from tests.plugin.test_fail_on_increase import FLOPS_20, GROWTH_AFTER, GROWTH_BEFORE, PARAMS_20
from tests.support import FLOPS, PARAMS, TREE_MODELS, pct, write_tests

# test_grown: 840 -> 1680 FLOPs; test_within: 840 -> 880 (a ReLU on 4 x 10 outputs)
WITHIN_FLOPS = FLOPS + 4 * 10


def entry(commit: str | None, **flops: int) -> dict:
    return {
        "commit": commit,
        "date": "2026-12-07T12:00:00+00:00",
        "torch_version": "2.0",
        "plugin_version": "0.1.0",
        "count": "all",
        "tests": {f"t.py::{name}": {"flops": n, "params": 1} for name, n in flops.items()},
    }


# --- reading ---------------------------------------------------------------------------------


def test_a_missing_file_is_an_empty_history(tmp_path):
    assert read_history(tmp_path / "none.jsonl") == ([], None)


def test_append_then_read_gives_the_entries_back_blank_lines_skipped(tmp_path):
    path = tmp_path / "deep" / "h.jsonl"
    first, second = entry("a" * 40, test_a=100), entry(None, test_a=150)
    append_history(path, first)
    with path.open("a", encoding="utf-8") as stream:
        stream.write("\n")
    append_history(path, second)
    assert read_history(path) == ([first, second], None)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("{not json", "not JSON ("),
        ("[1, 2]", "not a JSON object but list"),
        ('{"tests": [1]}', 'no "tests" object of totals by node id'),
        ('{"tests": {"t.py::a": {"flops": "many"}}}', "t.py::a's flops is 'many', not a whole"),
    ],
)
def test_a_bad_line_is_read_up_to_with_one_message(tmp_path, bad, problem):
    path = tmp_path / "h.jsonl"
    good = [entry("c1", test_a=100), entry("c2", test_a=120)]
    lines = [json.dumps(e) for e in good] + [bad, json.dumps(entry("c3", test_a=1))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    entries, message = read_history(path)
    assert entries == good
    assert message is not None
    assert message.startswith(f"{path}:3: {problem}")
    assert message.endswith("; read the 2 entries before it, ignored the rest")


def test_an_unreadable_file_is_no_entries_and_a_message(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    entries, message = read_history(path)
    assert entries == []
    assert message is not None and message.startswith(f"cannot read the history file {path}: ")


# --- the plugin --------------------------------------------------------------------------------


def run_twice(pytester: pytest.Pytester, *args: str) -> Path:
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest("--flop-history=hist/h.jsonl", *args).assert_outcomes(passed=3)
    write_tests(pytester, TREE_MODELS, GROWTH_AFTER)
    pytester.runpytest("--flop-history=hist/h.jsonl", *args).assert_outcomes(passed=3)
    return pytester.path / "hist" / "h.jsonl"


def test_flop_history_appends_one_line_per_run(pytester, monkeypatch):
    monkeypatch.setenv("GITHUB_SHA", "f" * 40)
    start = datetime.now().astimezone()
    path = run_twice(pytester)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    for line in (first, second):
        assert list(line) == [
            "commit",
            "date",
            "torch_version",
            "plugin_version",
            "count",
            "tests",
        ]
        assert line["commit"] == "f" * 40
        assert (line["torch_version"], line["plugin_version"], line["count"]) == (
            version("torch"),
            version("pytest-flopbudget"),
            "all",
        )
        date = datetime.fromisoformat(line["date"])
        assert date.utcoffset() == timedelta(0)  # UTC
        assert start - timedelta(seconds=1) <= date <= datetime.now().astimezone()

    def flops_params(line: dict) -> dict:
        return {t.split("::")[1]: (v["flops"], v["params"]) for t, v in line["tests"].items()}

    assert flops_params(first) == {
        "test_grown": (FLOPS, PARAMS),
        "test_within": (FLOPS, PARAMS),
        "test_same": (FLOPS, PARAMS),
    }
    assert flops_params(second) == {
        "test_grown": (FLOPS_20, PARAMS_20),
        "test_within": (WITHIN_FLOPS, PARAMS),
        "test_same": (FLOPS, PARAMS),
    }


def test_a_bad_history_line_warns_once_and_the_run_goes_on(pytester):
    path = pytester.path / "h.jsonl"
    path.write_text(json.dumps(entry("c1", test_a=1)) + "\n{oops\n", encoding="utf-8")
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    result = pytester.runpytest("--flop-history=h.jsonl")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            f"*FlopBudgetWarning: --flop-history: {path}:2: not JSON (*); read the 1 entry before "
            "it, ignored the rest"
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3  # appended all the same


def test_reports_get_the_history_then_this_run(pytester, monkeypatch):
    """Run.history (what the HTML report draws its trend from): the file's entries, then this
    run's."""

    def probe(run) -> str:
        return json.dumps(list(run.history))

    monkeypatch.setitem(FORMATS, "probe", Format("probe", "Run.history as JSON", probe))
    path = run_twice(pytester, "--flop-report=probe:seen.json")
    seen = json.loads((pytester.path / "seen.json").read_text(encoding="utf-8"))
    written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [e["tests"] for e in seen] == [e["tests"] for e in written]
    assert seen[-1]["tests"]["test_x.py::test_grown"]["flops"] == FLOPS_20


def test_without_the_option_reports_get_no_history(pytester, monkeypatch):
    monkeypatch.setitem(
        FORMATS, "probe", Format("probe", "", lambda run: json.dumps(list(run.history)))
    )
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    pytester.runpytest("--flop-report=probe:seen.json").assert_outcomes(passed=3)
    assert json.loads((pytester.path / "seen.json").read_text(encoding="utf-8")) == []


def test_an_empty_history_path_is_a_usage_error(pytester):
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    result = pytester.runpytest("--flop-history=")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the path of --flop-history is empty" in result.stderr.str()


# --- flopbudget history -----------------------------------------------------------------------


@pytest.fixture
def history_file(tmp_path) -> Path:
    path = tmp_path / "h.jsonl"
    for e in (
        entry("1" * 40, test_a=1000, test_b=50),
        entry(None, test_a=1100),  # test_b not run
        entry("3" * 40, test_a=990, test_b=100),
    ):
        append_history(path, e)
    return path


DATE = "2026-12-07T12:00:00+00:00"


def test_history_prints_each_tests_flops_and_change(history_file, capsys):
    assert cli.main(["history", str(history_file)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "t.py::test_a",
        f"  {DATE}  111111111111  1.00 KFLOPs",
        f"  {DATE}  -             1.10 KFLOPs  {pct(1100, 1000)}",
        f"  {DATE}  333333333333  990 FLOPs  {pct(990, 1100)}",
        "t.py::test_b",
        f"  {DATE}  111111111111  50 FLOPs",
        f"  {DATE}  333333333333  100 FLOPs  {pct(100, 50)}",
    ]
    assert (pct(1100, 1000), pct(990, 1100), pct(100, 50)) == ("+10.0%", "-10.0%", "+100.0%")


def test_history_of_one_test_or_a_glob(history_file, capsys):
    assert cli.main(["history", str(history_file), "t.py::test_b"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "t.py::test_b"
    assert cli.main(["history", str(history_file), "*test_?"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if not line.startswith(" ")] == ["t.py::test_a", "t.py::test_b"]


def test_history_bad_input_exits_2_with_one_line(history_file, tmp_path, capsys):
    assert cli.main(["history", str(history_file), "t.py::test_bb"]) == 2
    assert capsys.readouterr().err == (
        f"flopbudget history: error: no test in {history_file} matches 't.py::test_bb' "
        "(did you mean 't.py::test_b'?)\n"
    )
    missing = tmp_path / "none.jsonl"
    assert cli.main(["history", str(missing)]) == 2
    assert (
        capsys.readouterr().err == f"flopbudget history: error: {missing}: no such history file\n"
    )
    assert cli.main(["history", ""]) == 2
    assert "PATH is empty" in capsys.readouterr().err


def test_history_with_a_bad_line_prints_what_it_read_and_warns(history_file, capsys):
    with history_file.open("a", encoding="utf-8") as stream:
        stream.write("{oops\n")
    assert cli.main(["history", str(history_file), "t.py::test_b"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert captured.err.startswith(f"flopbudget history: warning: {history_file}:4: not JSON")
    assert "Traceback" not in captured.err


def test_a_history_path_that_is_a_directory_is_refused_at_start_up(pytester):
    write_tests(pytester, TREE_MODELS, GROWTH_BEFORE)
    (pytester.path / "adir").mkdir()
    result = pytester.runpytest("--flop-history=adir")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        f"--flop-history: cannot append to {pytester.path / 'adir'}: it is a directory"
        in result.stderr.str()
    )
