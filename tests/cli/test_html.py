"""``flopbudget MODEL --html PATH``: the page of one model, a report of one test."""

from __future__ import annotations

from tests.cli.test_command import FLOPS, MACS, PARAMS, SPEC, bad_input, pruned_state, run
from tests.reports.test_html import page_data


def test_html_writes_the_models_page_as_a_report_of_one_test(capsys, tmp_path):
    path = tmp_path / "pages" / "mlp.html"
    code, out, err = run(capsys, SPEC, "--input-shape", "4,10", "--html", path)
    assert code == 0, err
    assert "MLP" in out  # the text is printed as without --html
    report = page_data(path.read_text(encoding="utf-8"))["report"]
    assert report["compared_with"] is None
    (test,) = report["tests"]
    assert test["nodeid"] == SPEC
    assert (test["totals"]["flops"], test["totals"]["macs"], test["totals"]["params"]) == (
        FLOPS,
        MACS,
        PARAMS,
    )
    assert test["budget"] == {} and test["previous"] is None
    # the model itself is the module "" (the page draws it as every other's parent)
    modules = {m["name"]: (m["type"], m["flops"]) for m in test["modules"]}
    assert modules[""] == ("MLP", FLOPS)
    # Linear(10, 20) on 4 rows: 2 per MAC, 1 per output for the bias
    assert modules["a"] == ("Linear", 2 * 4 * 10 * 20 + 4 * 20)


def test_html_of_a_state_dict_alone_says_it_needs_the_architecture(capsys, tmp_path):
    _, state = pruned_state(tmp_path)
    error = bad_input(capsys, state, "--html", tmp_path / "x.html")
    assert error.startswith("--html draws the module tree's FLOPs, and ")
    assert not (tmp_path / "x.html").exists()


def test_html_to_a_path_that_cannot_be_written_is_bad_input(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    error = bad_input(capsys, SPEC, "--input-shape", "4,10", "--html", tmp_path / "file" / "x")
    assert error.startswith(f"--html {tmp_path / 'file' / 'x'}: cannot write it (")


def test_an_empty_html_path_is_bad_input(capsys):
    error = bad_input(capsys, SPEC, "--input-shape", "4,10", "--html", "")
    assert error == "--html is empty: an environment variable in it is probably unset"
