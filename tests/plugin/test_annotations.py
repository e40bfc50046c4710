"""GitHub Actions annotations and JUnit XML properties."""

from __future__ import annotations

from tests.projects import OVER_AND_TWO, definition_line, junit_properties
from tests.support import (
    BYTES_MOVED,
    FLOPS,
    MACS,
    PARAMS,
    TREE_MODELS,
    pct,
    write_tests,
)

# --- 2. report files: JSON and Markdown ---------------------------------------------------------


# --- 3. GitHub Actions annotations ----------------------------------------------------------------


def parse_workflow_command(line: str) -> tuple[str, dict[str, str], str]:
    """(command, properties, message) as the GitHub Actions runner reads `::cmd k=v,...::msg`:
    the first `::` after the start ends the properties, which split on `,` then `=`."""
    assert line.startswith("::")
    end = line.index("::", 2)
    command, _, properties = line[2:end].partition(" ")

    def unescape(text: str, codes: str) -> str:
        for code in codes.split():
            text = text.replace(code, bytes.fromhex(code[1:]).decode())
        return text.replace("%25", "%")

    parsed = {}
    for pair in properties.split(","):
        key, _, value = pair.partition("=")
        parsed[key] = unescape(value, "%0D %0A %3A %2C")
    return command, parsed, unescape(line[end + 2 :], "%0D %0A")


ANNOTATED = """
@pytest.mark.flop_budget(max_flops=500, max_params=100)
def test_over():
    nn.Linear(10, 10)(x())

@pytest.mark.parametrize("n", [1], ids=["a,b"])
@pytest.mark.flop_budget(max_flops=500)
def test_param(n):
    nn.Linear(10, 10)(x())

@pytest.mark.flop_budget(max_gflops=1)
def test_fine():
    nn.Linear(10, 10)(x())
"""


def test_github_actions_gets_an_error_annotation_per_over_budget_test(pytester, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    source = write_tests(pytester, TREE_MODELS, ANNOTATED)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    annotations = [line for line in result.outlines if line.startswith("::")]
    assert len(annotations) == 2  # none for the test within its budget

    flops = f"FLOP budget exceeded: {FLOPS} FLOPs > 500 FLOPs ({pct(FLOPS, 500)})"
    params = f"params {PARAMS} > 100 ({pct(PARAMS, 100)})"
    over = f"test_x.py:{definition_line(source, 'test_over')}".split(":")
    param = f"test_x.py:{definition_line(source, 'test_param')}".split(":")
    # the raw text: newlines as %0A, % as %25
    assert annotations[0].startswith(f"::error file={over[0]},line={over[1]},title=")
    assert annotations[0].endswith(
        "::" + f"{flops}\n{params}".replace("%", "%25").replace("\n", "%0A")
    )
    # and what GitHub reads from it
    assert [parse_workflow_command(line) for line in annotations] == [
        (
            "error",
            {"file": over[0], "line": over[1], "title": "FLOP budget (test_x.py::test_over)"},
            f"{flops}\n{params}",
        ),
        (
            "error",
            {
                "file": param[0],
                "line": param[1],
                "title": "FLOP budget (test_x.py::test_param[a,b])",
            },
            flops,
        ),
    ]


def test_no_github_annotation_outside_github_actions(pytester):
    write_tests(pytester, TREE_MODELS, ANNOTATED)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    assert not any(line.startswith("::") for line in result.outlines)


def test_junitxml_carries_every_budgeted_tests_totals_as_properties(pytester):
    write_tests(pytester, TREE_MODELS, OVER_AND_TWO)
    pytester.runpytest("--junitxml=junit.xml").assert_outcomes(passed=2, failed=1)

    def props(flops, macs, params, moved):
        return {
            "flopbudget_flops": str(flops),
            "flopbudget_macs": str(macs),
            "flopbudget_params": str(params),
            "flopbudget_nonzero_params": str(params),
            "flopbudget_sparse_flops": str(flops),
            "flopbudget_param_bytes": str(4 * params),
            "flopbudget_bytes_moved": str(moved),
        }

    assert junit_properties(pytester.path / "junit.xml") == {
        "test_over": props(FLOPS, MACS, PARAMS, BYTES_MOVED),  # failed over budget: reported
        # Two's logcumsumexp has no FLOP formula, but reads and writes its (4, 10) float32 input
        "test_two": props(2 * FLOPS, 2 * MACS, 2 * PARAMS, 2 * BYTES_MOVED + 2 * 40 * 4),
        "test_unbudgeted": {},
    }


def test_a_test_failing_for_its_own_reason_gets_no_budget_annotation(pytester, monkeypatch):
    """Issue 17, 8: its row is shown, but the failure is its own: no FLOP budget error."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write_tests(
        pytester,
        TREE_MODELS,
        """
        @pytest.mark.flop_budget(max_flops=500)
        def test_over_and_failing():
            nn.Linear(10, 10)(x())
            assert False, "its own reason"
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert not [line for line in result.outlines if line.startswith("::error")]
