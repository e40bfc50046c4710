"""The `flop budget` summary: rows, statuses, colours and alignment."""

from __future__ import annotations

import json
import re

import pytest

from pytest_flopbudget.text import human
from tests.custom_ops import NOCOST_OP
from tests.projects import load_json
from tests.support import (
    FLOPS,
    LINEAR_MODELS,
    MACS,
    NET_MODELS,
    PARAMS,
    UNCOUNTED_MODELS,
    linear_flops,
    linear_params,
    pct,
    plain,
    row_of,
    summary,
    write_pyproject,
    write_tests,
)

# --- closed forms ------------------------------------------------------------------------------


# Linear(10, 10) on a (4, 10) input: 400 MACs, 840 FLOPs, 110 params.


# --- 11. the `flop budget` summary ---------------------------------------------------------------

THREE_STATUSES = f"""
@pytest.mark.flop_budget(max_flops={10**6})
def test_new():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_flops=500)
def test_over():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_flops=500)
def test_nothing():
    pass
"""


def test_summary_has_one_row_per_budgeted_test_the_worst_first(pytester):
    write_tests(pytester, LINEAR_MODELS, THREE_STATUSES + "\ndef test_unbudgeted():\n    pass\n")
    result = pytester.runpytest("-W", "ignore::pytest.PytestWarning")
    result.assert_outcomes(passed=3, failed=1)
    rows = summary(result)
    assert [(r["status"], r["test"]) for r in rows] == [
        ("over:flops", "test_x.py::test_over"),
        ("no-module-work", "test_x.py::test_nothing"),
        ("new", "test_x.py::test_new"),
    ]
    assert list(rows[0]) == [
        *("status", "FLOPs", "budget", "Δbudget", "Δlast", "params", "nonzero", "test")
    ]
    over = rows[0]
    assert (over["FLOPs"], over["budget"], over["Δbudget"], over["Δlast"]) == (
        str(FLOPS),
        "500",
        pct(FLOPS, 500),
        "-",  # no last run
    )
    assert (over["params"], over["nonzero"]) == (str(PARAMS), str(PARAMS))
    assert rows[2]["Δbudget"] == pct(FLOPS, 10**6)  # negative: headroom


def test_summary_verbosity_quiet_counts_very_quiet_nothing_verbose_macs(pytester):
    write_tests(pytester, LINEAR_MODELS, THREE_STATUSES)
    quiet = pytester.runpytest("-q", "-W", "ignore::pytest.PytestWarning")
    quiet.assert_outcomes(passed=2, failed=1)
    assert "flop budget: 3 budgeted test(s): 1 over, 1 no-module-work, 1 new" in quiet.outlines
    assert not any(re.fullmatch(r"=+ flop budget =+", line) for line in quiet.outlines)

    very_quiet = pytester.runpytest("-qq", "-W", "ignore::pytest.PytestWarning")
    assert very_quiet.ret == pytest.ExitCode.TESTS_FAILED  # -qq prints no outcome line either
    assert "flop budget" not in very_quiet.stdout.str()

    verbose = pytester.runpytest("-v", "-W", "ignore::pytest.PytestWarning")
    rows = summary(verbose)
    assert "MACs" in rows[0]
    assert {r["test"]: r["MACs"] for r in rows} == {
        "test_x.py::test_over": str(MACS),
        "test_x.py::test_nothing": "-",
        "test_x.py::test_new": str(MACS),
    }


def test_summary_second_run_is_ok_and_shows_the_change_since_the_last_run(pytester):

    test = """
        @pytest.mark.flop_budget(max_gflops=1)
        def test_a():
            nn.Linear(10, {fan_out})(x())
        """
    write_tests(pytester, LINEAR_MODELS, test.format(fan_out=10))
    first = row_of(pytester.runpytest(), "test_x.py::test_a")
    assert (first["status"], first["FLOPs"], first["Δlast"]) == ("new", str(FLOPS), "-")

    second = row_of(pytester.runpytest(), "test_x.py::test_a")  # the cache persists
    assert (second["status"], second["FLOPs"], second["Δlast"]) == ("ok", str(FLOPS), "+0.0%")

    write_tests(pytester, LINEAR_MODELS, test.format(fan_out=20))
    wider = linear_flops(4, 10, 20)
    assert wider == 1680
    third = row_of(pytester.runpytest(), "test_x.py::test_a")
    assert (third["status"], third["FLOPs"], third["Δlast"]) == (
        "ok",
        human(wider),
        pct(wider, FLOPS),
    )
    assert pct(wider, FLOPS) == "+100.0%"
    assert third["params"] == str(linear_params(10, 20))


PARAM_BYTES = 4 * PARAMS


assert (FLOPS, MACS, PARAMS, PARAM_BYTES) == (840, 400, 110, 440)


ESC = "\x1b["


RED, YELLOW, GREEN, RESET = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[0m"


def section(result: pytest.RunResult) -> list[str]:
    """The raw lines of the `flop budget` section, up to the next `=` line."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.search(r"=+ flop budget =+", line))
    body = []
    for line in lines[start + 1 :]:
        if plain(line).startswith("="):
            break
        body.append(line)
    return body


# --- 4. status names ---------------------------------------------------------------------------

EXCEEDED_ONE_EACH = f"""
@pytest.mark.flop_budget(max_flops={FLOPS - 1})
def test_flops():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_macs={MACS - 1})
def test_macs():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_params={PARAMS - 1})
def test_params():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_nonzero_params={PARAMS - 1})
def test_nonzero_params():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_sparse_flops={FLOPS - 1})
def test_sparse_flops():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_param_bytes={PARAM_BYTES - 1})
def test_param_bytes():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_params={PARAMS - 1}, max_flops={FLOPS - 1})
def test_two():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_params={PARAMS}, max_flops={FLOPS})
def test_at_the_limits():
    nn.Linear(10, 10)(x())
"""


def test_status_names_the_exceeded_limit_and_every_one_when_several(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")  # room for every whole node id beside the long statuses
    write_tests(pytester, NET_MODELS, EXCEEDED_ONE_EACH)
    result = pytester.runpytest("--flop-report=json:r.json", "--flop-report=markdown:r.md")
    result.assert_outcomes(passed=1, failed=7)
    statuses = {row["test"].split("::")[1]: row["status"] for row in summary(result)}
    assert statuses == {
        "test_flops": "over:flops",
        "test_macs": "over:macs",
        "test_params": "over:params",
        "test_nonzero_params": "over:nonzero_params",
        "test_sparse_flops": "over:sparse_flops",
        "test_param_bytes": "over:param_bytes",
        "test_two": "over:flops+params",  # every exceeded quantity, in a fixed order
        "test_at_the_limits": "new",
    }
    # the JSON status is the same string; its kind is what precedes the colon
    report = json.loads((pytester.path / "r.json").read_text())
    exported = {t["nodeid"].split("::")[1]: t["status"] for t in report["tests"]}
    assert exported == statuses
    markdown = (pytester.path / "r.md").read_text()
    assert "| 🔴 over:flops+params | `test_x.py::test_two` |" in markdown
    assert "| 🔴 over:param_bytes | `test_x.py::test_param_bytes` |" in markdown


GROWTH = """
@pytest.mark.flop_budget(max_gflops=1)
def test_flops_grow():
    lin = nn.Linear(10, 10)
    for _ in range({calls}):
        lin(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_params_grow():
    WithSpare({spare})(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_same():
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_flops={over_limit})
def test_over():
    nn.Linear(10, 10)(x())
"""


def growth_run(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    """A baseline, then a run against it: test_flops_grow doubles its FLOPs (one Linear called
    twice, params unchanged), test_params_grow gains an unused Linear (params only)."""
    write_tests(pytester, NET_MODELS, GROWTH.format(calls=1, spare=False, over_limit=FLOPS))
    pytester.runpytest("--flop-report=json:base.json").assert_outcomes(passed=4)
    write_tests(pytester, NET_MODELS, GROWTH.format(calls=2, spare=True, over_limit=FLOPS - 1))
    return pytester.runpytest("--flop-baseline=base.json", "--flop-fail-on-increase=5%", *options)


def test_growth_status_names_the_grown_quantity(pytester):
    result = growth_run(pytester)
    result.assert_outcomes(passed=1, failed=3)
    statuses = {row["test"].split("::")[1]: row["status"] for row in summary(result)}
    assert statuses == {
        "test_over": "over:flops",
        "test_flops_grow": "grew:flops",
        "test_params_grow": "grew:params",
        "test_same": "ok",
    }
    rows = {row["test"].split("::")[1]: row for row in summary(result)}
    assert rows["test_flops_grow"]["Δbaseline"] == pct(2 * FLOPS, FLOPS)
    assert rows["test_params_grow"]["params"] == str(2 * PARAMS)


# --- 4. colours --------------------------------------------------------------------------------


def test_statuses_are_coloured_when_pytest_colours_red_over_yellow_grew_green_ok(
    pytester, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # node ids at the end of their rows
    result = growth_run(pytester, "--color=yes")
    cells = {plain(line).split()[-1]: line.split(" ", 1)[0] for line in section(result)[2:]}
    assert cells["test_x.py::test_over"] == f"{RED}over:flops{RESET}"
    assert cells["test_x.py::test_flops_grow"] == f"{YELLOW}grew:flops{RESET}"
    assert cells["test_x.py::test_params_grow"] == f"{YELLOW}grew:params{RESET}"
    assert cells["test_x.py::test_same"] == f"{GREEN}ok{RESET}"


def test_statuses_are_plain_without_colour(pytester):
    result = growth_run(pytester, "--color=no")
    assert not any(ESC in line for line in section(result))
    assert row_of(result, "test_x.py::test_over")["status"] == "over:flops"


# --- 4. alignment ------------------------------------------------------------------------------


def spans(line: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", line)]


def assert_aligned(header: str, rows: list[str], columns: int) -> None:
    """The first column starts where its header does; the others end where theirs do."""
    expected = spans(header)[:columns]
    for row in rows:
        got = spans(row)[:columns]
        assert got[0][0] == expected[0][0], (header, row)
        assert [end for _, end in got[1:]] == [end for _, end in expected[1:]], (header, row)


def table(result: pytest.RunResult) -> tuple[list[str], str, str, list[str]]:
    """(the lines above the header, header, rule, rows): the summary's table without colour
    codes; a row is a line with a cell under each header cell."""
    lines = [plain(line) for line in section(result)]
    at = next(i for i, line in enumerate(lines) if line.startswith("status "))
    header, rule, rest = lines[at], lines[at + 1], lines[at + 2 :]
    rows = [line for line in rest if len(line.split()) == len(header.split())]
    return lines[:at], header, rule, [row for row in rows if not row.startswith("flop budget")]


LONG_NAME = "test_a_test_name_long_enough_to_need_its_own_line_at_eighty_columns"


@pytest.mark.parametrize("columns", [200, 80])
@pytest.mark.parametrize("baseline", [False, True], ids=["last run", "baseline"])
@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["default", "verbose"])
def test_header_rule_and_rows_line_up_with_and_without_a_baseline(
    pytester, monkeypatch, columns, baseline, verbosity
):
    body = f"""
        @pytest.mark.flop_budget(max_flops=5)
        def test_far_over():
            nn.Linear(10, 10)(x())

        @pytest.mark.flop_budget(max_params={PARAMS - 1}, max_flops={FLOPS - 1})
        def {LONG_NAME}():
            nn.Linear(10, 10)(x())

        @pytest.mark.flop_budget(max_gflops=1)
        def test_ok():
            nn.Linear(10, 10)(x())
        """
    write_tests(pytester, NET_MODELS, body)
    monkeypatch.setenv("COLUMNS", str(columns))
    options = ["--color=yes", *verbosity]
    if baseline:
        pytester.runpytest("--flop-report=json:base.json")
        options.append("--flop-baseline=base.json")
    result = pytester.runpytest(*options)
    _, header, rule, rows = table(result)
    assert f"Δ{'baseline' if baseline else 'last'}" in header.split()
    assert len(rows) == 3  # one line per test
    assert_aligned(header, rows, len(header.split()) - 1)  # the node id is left aligned, last
    assert set(rule) == {"-"}
    assert len(rule) == max(len(line) for line in [header, *rows])  # as wide as the table
    long_row = next(row for row in rows if row.split()[0] == "over:flops+params")
    shown = long_row.split()[-1]
    if verbosity or columns == 200:  # the whole node id, at the end of its row
        assert shown == f"test_x.py::{LONG_NAME}"
    else:  # its file said once above the table, its middle elided; the line fits
        assert "…" in shown and shown.endswith("columns")
        assert max(len(line) for line in [header, rule, *rows]) <= columns
    # the widest cells are not cut: "+16700.0%" is 5 FLOPs' overshoot
    far = next(r for r in rows if r.split()[0] == "over:flops")
    assert pct(FLOPS, 5) in far.split()


# --- issue 17, 20: one test, one line, from 80 columns up -------------------------------------

CNN = "tests/models/test_cnn.py::test_cnn"
ENCODER = "tests/models/test_encoder.py::test_encoder_within_budget"
SHARED = "node ids below are in tests/models/"


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_each_test_is_one_line_with_its_node_id_last_shortened_where_it_must_be(
    pytester, monkeypatch, columns
):
    for nodeid in (CNN, ENCODER):
        path, name = nodeid.split("::")
        body = f"@pytest.mark.flop_budget(max_flops=500)\ndef {name}():\n    nn.Linear(10, 10)(x())"
        write_tests(pytester, LINEAR_MODELS, body, name=path.removesuffix(".py"))
    monkeypatch.setenv("COLUMNS", str(columns))
    result = pytester.runpytest("--flop-report=json:r.json")
    result.assert_outcomes(failed=2)
    above, header, rule, rows = table(result)
    assert len(rows) == 2 and header.split()[-1] == "test"
    assert max(len(line) for line in [*above, header, rule, *rows]) <= columns
    numbers = {row.split()[-1]: row.split()[:-1] for row in rows}
    for cells in numbers.values():  # the numbers first: over 500 FLOPs by 840
        assert cells[:4] == ["over:flops", str(FLOPS), "500", pct(FLOPS, 500)]
    encoder = ENCODER.removeprefix("tests/models/")
    if columns == 160:  # the whole node ids fit
        assert (above, set(numbers)) == ([], {CNN, ENCODER})
    elif columns == 100:  # their directory said once, above the table
        assert (above, set(numbers)) == ([SHARED], {"test_cnn.py::test_cnn", encoder})
    else:  # and the middle of the long one elided, its end kept
        assert above == [SHARED]
        (elided,) = set(numbers) - {"test_cnn.py::test_cnn"}
        head, tail = elided.split("…")
        assert encoder.startswith(head) and encoder.endswith(tail) and len(tail) > len(head)
    assert {t["nodeid"] for t in load_json(pytester, "r.json")["tests"]} == {CNN, ENCODER}
    verbose = summary(pytester.runpytest("-v"))  # -v: the whole ids, whatever the width
    assert {row["test"] for row in verbose} == {CNN, ENCODER}
    assert not any(line.startswith(SHARED) for line in result.outlines if columns == 160)


# test_a runs the uncounted op (2 calls), test_b does not.
TWO_TESTS = """
@pytest.mark.flop_budget({marker})
def test_a():
    Uncounted()(x())

@pytest.mark.flop_budget({marker})
def test_b():
    nn.Linear(10, 10)(x())
"""


def test_default_summary_marks_uncounted_tests_and_says_how_to_see_them(pytester):
    write_tests(pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="max_gflops=1"))
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)  # not strict: nothing fails
    assert row_of(result, "test_x.py::test_a")["FLOPs"] == f"≥{FLOPS}"
    assert row_of(result, "test_x.py::test_b")["FLOPs"] == str(FLOPS)
    hint = (
        "1 test ran ops with no cost formula (their FLOPs, marked ≥, are a lower bound): "
        "see -v, --flop-report, or set strict"
    )
    assert hint in result.outlines
    assert f"test_x.py::test_a: uncounted ops {NOCOST_OP} ×2" not in result.outlines
    assert f"test_x.py::test_a: uncounted ops {NOCOST_OP} ×2" in pytester.runpytest("-v").outlines
    quiet = pytester.runpytest("-q").outlines
    assert "flop budget: 2 budgeted test(s): 2 ok, 1 ran ops with no cost formula" in quiet


# --- issue 17, 22: strict under --flop-budget-disable; no suggestion of what is already on ------

HINT = "1 test ran ops with no cost formula (their FLOPs, marked ≥, are a lower bound)"
STRICT_DISABLED = "flop budget: strict reports but fails nothing under --flop-budget-disable"


@pytest.mark.parametrize("strict", ["--flop-strict", "pyproject"])
def test_strict_under_disable_is_said_once_at_the_top_and_not_suggested(pytester, strict):
    write_tests(pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="max_gflops=1"))
    options = ["--flop-budget-disable"]
    if strict == "pyproject":
        write_pyproject(pytester, "[tool.flopbudget]\nstrict = true\n")
    else:
        options.append(strict)
    result = pytester.runpytest(*options)
    result.assert_outcomes(passed=2)  # disabled: strict fails nothing
    lines = section(result)
    assert lines[0] == STRICT_DISABLED
    assert result.outlines.count(STRICT_DISABLED) == 1
    assert f"{HINT}: see -v or --flop-report" in lines  # strict is on: not suggested
    assert row_of(result, "test_x.py::test_a")["status"] == "uncounted"


def test_without_disable_there_is_no_strict_line(pytester):
    write_tests(pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="max_gflops=1"))
    for options in [("--flop-budget-disable",), ("--flop-strict",)]:
        result = pytester.runpytest(*options)
        assert STRICT_DISABLED not in result.outlines


@pytest.mark.parametrize(
    ("options", "suggestion"),
    [
        ((), ": see -v, --flop-report, or set strict"),
        (("-v",), ": see --flop-report, or set strict"),
        (("--flop-report",), ": see -v, or set strict"),
        (("-v", "--flop-report"), ": set strict"),
        (("--flop-strict",), ": see -v or --flop-report"),
        (("--flop-strict", "-v"), ": see --flop-report"),
        (("--flop-strict", "-v", "--flop-report"), ""),
    ],
)
def test_the_hint_suggests_only_what_is_not_on(pytester, options, suggestion):
    write_tests(pytester, UNCOUNTED_MODELS, TWO_TESTS.format(marker="max_gflops=1"))
    result = pytester.runpytest(*options)
    assert HINT + suggestion in result.outlines
    assert sum(line.startswith(HINT) for line in result.outlines) == 1


def test_no_hint_when_every_op_has_a_formula(pytester):
    write_tests(
        pytester,
        UNCOUNTED_MODELS,
        "@pytest.mark.flop_budget\ndef test_b():\n    nn.Linear(10, 10)(x())\n",
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not any("no cost formula" in line for line in result.outlines)
