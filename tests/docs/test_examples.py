"""The documentation's examples print what the pages say, and what the closed form says.

Example code lives in docs/examples/ and is included into the pages (pymdownx.snippets); the
README repeats the quick start. These tests run the examples, compare what they print with the
pages, and check each number against arithmetic written out here.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
README = ROOT / "README.md"


def linear_macs(batch: int, in_features: int, out_features: int) -> int:
    return batch * in_features * out_features


def linear_flops(batch: int, in_features: int, out_features: int) -> int:
    """FLOPs ("all") of Linear(in, out) on `batch` rows: 2 per MAC + 1 per output for the bias."""
    return 2 * linear_macs(batch, in_features, out_features) + batch * out_features


def linear_params(in_features: int, out_features: int) -> int:
    return in_features * out_features + out_features


def si(n: float) -> str:
    """n at three significant figures with K / M suffix, as the summary table shows counts."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def pct(now: float, before: float) -> str:
    return f"{(now - before) / before * 100:+.1f}%"


def run_example(name: str) -> list[int]:
    """Run docs/examples/NAME and return the integers of its first printed line."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, check=True
    )
    return [int(word) for word in done.stdout.splitlines()[0].split()]


def code_blocks(text: str) -> list[str]:
    """The bodies of the fenced code blocks of a Markdown text."""
    return [m.group(1) for m in re.finditer(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)]


def squeezed(lines: str) -> list[str]:
    """Non-empty lines with runs of whitespace (and separator rules) collapsed."""
    out = []
    for line in lines.splitlines():
        line = " ".join(line.split())
        if line and not set(line) <= {"-", "=", "_", " "}:
            out.append(re.sub(r"^[=_]+ (.*?) [=_]+$", r"\1", line))
    return out


def contains_in_order(haystack: list[str], needles: list[str]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


# ---- the quick start (README and docs/getting-started.md) ------------------------------------

TINY_MACS_PER_ROW = 512 * 1024 + 1024 * 10


def tiny_flops(batch: int) -> int:
    # two Linears (2 per MAC + bias) and the ReLU over the hidden layer
    return linear_flops(batch, 512, 1024) + linear_flops(batch, 1024, 10) + batch * 1024


TINY_PARAMS = linear_params(512, 1024) + linear_params(1024, 10)


def test_quick_start_closed_form_gives_the_numbers_the_pages_show():
    assert linear_macs(32, 512, 1024) + linear_macs(32, 1024, 10) == 32 * TINY_MACS_PER_ROW
    assert (tiny_flops(32), tiny_flops(1), TINY_PARAMS) == (34_275_648, 1_071_114, 535_562)
    summary = squeezed((EXAMPLES / "quickstart_summary.txt").read_text())
    cheap = f"new {si(tiny_flops(32))} 50.0M {pct(tiny_flops(32), 50e6)} - 536K 536K"
    assert f"{cheap} test_tiny_net_stays_cheap" in summary
    single = f"new {si(tiny_flops(1))} - - - {si(TINY_PARAMS)} 536K"
    assert f"{single} test_tiny_net_single_row" in summary
    page = (DOCS / "getting-started.md").read_text()
    for number in ("34,275,648", "1,071,114", "535,562"):
        assert number in page
    # --flop-budget-update rounds up to three significant figures
    written = (EXAMPLES / "quickstart_pyproject.toml").read_text()
    assert f"max_mflops = {math.ceil(tiny_flops(1) / 1e4) / 100}" in written
    assert f'max_params = "{math.ceil(TINY_PARAMS / 1e3)}K"' in written


def test_readme_quick_start_is_the_tested_docs_example():
    blocks = code_blocks(README.read_text())
    for name in (
        "test_tiny_net.py",
        "quickstart_summary.txt",
        "quickstart_update.txt",
        "quickstart_pyproject.toml",
    ):
        assert (EXAMPLES / name).read_text() in blocks, name


@pytest.fixture
def tiny_project(pytester: pytest.Pytester) -> pytest.Pytester:
    # written as an editor writes it, with a final newline (pytester's makepyprojecttoml strips
    # it, and an update keeps a file's final newlines as they were)
    (pytester.path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
    tests = pytester.mkdir("tests")
    (tests / "test_tiny_net.py").write_text((EXAMPLES / "test_tiny_net.py").read_text())
    return pytester


def test_quick_start_prints_the_summary_the_pages_show(tiny_project: pytest.Pytester):
    result = tiny_project.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    shown = squeezed((EXAMPLES / "quickstart_summary.txt").read_text())
    assert contains_in_order(squeezed(result.stdout.str()), shown)


def test_quick_start_update_writes_the_budget_the_pages_show(tiny_project: pytest.Pytester):
    result = tiny_project.runpytest_subprocess("--flop-budget-update")
    result.assert_outcomes(passed=2)
    path = tiny_project.path / "pyproject.toml"
    shown = (EXAMPLES / "quickstart_update.txt").read_text()
    shown = shown.replace("/path/to/your/project/pyproject.toml", str(path))
    assert contains_in_order(squeezed(result.stdout.str()), squeezed(shown))
    assert (EXAMPLES / "quickstart_pyproject.toml").read_text() in path.read_text()


def test_readme_over_budget_message_is_what_a_smaller_budget_prints(
    tiny_project: pytest.Pytester,
):
    test_file = tiny_project.path / "tests" / "test_tiny_net.py"
    test_file.write_text(test_file.read_text().replace("max_gflops=0.05", "max_gflops=0.01"))
    result = tiny_project.runpytest_subprocess()
    result.assert_outcomes(failed=1, passed=1)
    message = (
        f"FLOP budget exceeded: {tiny_flops(32) / 1e6:.2f} MFLOPs > 10.00 MFLOPs "
        f"({pct(tiny_flops(32), 10e6)})"
    )
    assert message == "FLOP budget exceeded: 34.28 MFLOPs > 10.00 MFLOPs (+242.8%)"
    assert message in result.stdout.str()
    assert message in README.read_text()


# ---- the Python API page -----------------------------------------------------------------------


def test_profile_of_a_linear_prints_its_closed_form():
    b, i, o = 32, 256, 64
    expected = [linear_macs(b, i, o), linear_flops(b, i, o), linear_params(i, o)]
    assert expected == [524_288, 1_050_624, 16_448]
    assert run_example("profile_linear.py") == expected
    page = (DOCS / "python-api.md").read_text()
    assert all(f"{n:,}" in page for n in expected)


def test_counting_a_training_step_splits_forward_and_backward_as_the_page_says():
    b, i, o = 32, 256, 64
    loss_sum = b * o  # the loss's .sum(): 1 per input element
    forward = linear_flops(b, i, o) + loss_sum
    # the weight's gradient (x needs none) and the bias's (a sum over the batch)
    backward = 2 * linear_macs(b, i, o) + b * o
    assert (forward, backward) == (1_052_672, 1_050_624)
    assert run_example("counting_step.py") == [forward, backward]
    page = (DOCS / "python-api.md").read_text()
    assert f"{forward:,}" in page and f"{backward:,}" in page


def test_transformer_encoder_layer_example_matches_its_closed_form():
    d, heads, tokens, ff = 256, 8, 128, 2048
    macs = 3 * tokens * d * d + tokens * tokens * 2 * d + tokens * d * d + 2 * tokens * d * ff
    biases = 3 * tokens * d + tokens * d + tokens * ff + tokens * d
    softmax = heads * tokens * (3 * tokens - 1)
    scale = 2 * tokens * d  # √scale on Q and on K
    relu = tokens * ff
    residuals = 2 * tokens * d
    layer_norms = 2 * 7 * tokens * d  # 2 per element + 2 affine terms + 3 for the statistics
    flops = 2 * macs + biases + softmax + scale + relu + residuals + layer_norms
    params = 4 * d * d + 4 * d + 2 * d * ff + ff + d + 4 * d
    expected = [macs, flops, params]
    assert expected == [176_160_768, 353_991_680, 1_315_072]
    assert run_example("profile_encoder.py") == expected
    assert "# 176160768 353991680 1315072" in (EXAMPLES / "profile_encoder.py").read_text()


# ---- the failing pull request (docs/ci.md) ----------------------------------------------------

BLOCK = linear_flops(32, 64, 64) + 32 * 64  # Linear(64, 64) and its activation, 1 per element
HEAD = linear_flops(32, 64, 10)


def test_pull_request_example_numbers_follow_from_the_model():
    main, pr = 3 * BLOCK + HEAD, 4 * BLOCK + HEAD
    main_params, pr_params = 3 * linear_params(64, 64) + 650, 4 * linear_params(64, 64) + 650
    assert (BLOCK, HEAD, main, pr) == (266_240, 41_280, 840_000, 1_106_240)
    assert (main_params, pr_params) == (13_130, 17_290)
    failure = (EXAMPLES / "pull_request" / "failure.txt").read_text()
    assert f"FLOP budget exceeded: 1.11 MFLOPs > 1.00 MFLOPs ({pct(pr, 1e6)})" in failure
    assert f"FLOPs grew {pct(pr, main)} over the baseline: 840 KFLOPs → 1.11 MFLOPs" in failure
    assert f"params grew {pct(pr_params, main_params)} over the baseline: 13.1K → 17.3K" in failure
    rows = squeezed(failure)
    over = f"over:flops {si(pr)} 1.00M {pct(pr, 1e6)} {pct(pr, main)} 17.3K 17.3K"
    assert f"{over} tests/test_models.py::test_classifier" in rows
    head_only = f"ok {si(HEAD)} 1.00M {pct(HEAD, 1e6)} +0.0% 650 650"
    assert f"{head_only} tests/test_models.py::test_head_only" in rows


@pytest.fixture
def pull_request(pytester: pytest.Pytester) -> pytest.Pytester:
    """The example's project: the target branch's report made, the pull request's model in."""
    example = EXAMPLES / "pull_request"
    (pytester.path / "pyproject.toml").write_text((example / "pyproject.toml").read_text())
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_models.py").write_text(
        (example / "test_models.py").read_text()
    )
    (pytester.path / "models.py").write_text((example / "models_main.py").read_text())
    pytester.runpytest_subprocess("--flop-report=json:main-flops.json").assert_outcomes(passed=2)
    (pytester.path / "models.py").write_text((example / "models_pr.py").read_text())
    return pytester


def test_pull_request_example_prints_what_the_ci_page_shows(
    pull_request: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("COLUMNS", "100")  # the width the page shows
    result = pull_request.runpytest_subprocess(
        "--flop-baseline=main-flops.json",
        "--flop-report=json:flops.json",
        "--flop-report=markdown:summary.md",
    )
    result.assert_outcomes(failed=1, passed=1)
    shown = squeezed((EXAMPLES / "pull_request" / "failure.txt").read_text())
    assert contains_in_order(squeezed(result.stdout.str()), shown)

    made = re.compile(r"\(made [^)]*\)")
    written = made.sub("(made …)", (pull_request.path / "summary.md").read_text())
    documented = made.sub("(made …)", (EXAMPLES / "pull_request" / "summary.md").read_text())
    assert written == documented

    diff = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_flopbudget",
            "diff",
            "main-flops.json",
            "flops.json",
            "--fail-on-increase",
            "5%",
        ],
        cwd=pull_request.path,
        capture_output=True,
        text=True,
    )
    documented_diff = (EXAMPLES / "pull_request" / "diff.txt").read_text().splitlines()
    assert diff.stdout.splitlines() == documented_diff[1:-2]
    assert documented_diff[-2:] == ["$ echo $?", str(diff.returncode)] == ["$ echo $?", "1"]


# ---- the performance page ---------------------------------------------------------------------


def test_meta_scale_llama_macs_on_the_performance_page_are_the_closed_form():
    layers, d, ff, vocab, seq = 32, 4096, 11008, 32000, 2048
    per_layer = 4 * seq * d * d + 2 * seq * seq * d + 3 * seq * d * ff  # q k v o, attention, SwiGLU
    macs = layers * per_layer + seq * d * vocab  # + the LM head
    assert f"{macs:,} MACs" in (DOCS / "performance.md").read_text()


# ---- the site builds --------------------------------------------------------------------------


def test_mkdocs_site_builds_in_strict_mode(tmp_path: Path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "getting-started" / "index.html").read_text()
    assert "TinyNet" in page  # the snippet was included
