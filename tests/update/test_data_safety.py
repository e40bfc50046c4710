"""pyproject.toml data safety under --flop-budget-update (pytest_flopbudget.budgets.update, plugin):
the lock (two updating runs at once both land), SIGKILL mid-write (the file is always the old or
the new text, no temporary file outlives the next run), symlinks, read-only files, mode bits,
CRLF, no blank-line drift, inline tables, Ctrl-C, and report paths that cannot be written.

Most tests call update_pyproject directly; the plugin's part goes through pytester. Expected
values are closed forms: nn.Linear(10, 10) on a (4, 10) input is 2·4·10·10 + 4·10 FLOPs under
the "all" convention, 10·10 + 10 params.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_flopbudget.budgets import update
from pytest_flopbudget.budgets.config import load_config
from pytest_flopbudget.budgets.update import UpdateError, update_pyproject
from pytest_flopbudget.budgets.verdict import TestRow
from tests.support import linear_flops, linear_params, usage_error

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

FLOPS, PARAMS = linear_flops(4, 10, 10), linear_params(10, 10)
assert (FLOPS, PARAMS) == (840, 110)
NODE = "test_x.py::test_a"
TEST_A = """
import pytest
import torch
from torch import nn

@pytest.mark.flop_budget
def test_a():
    nn.Linear(10, 10)(torch.randn(4, 10))
"""


def row(nodeid: str = NODE, flops: int = 1000, params: int = 100) -> TestRow:
    return TestRow(
        nodeid=nodeid,
        location=f"{nodeid.split('::')[0]}:1",
        count="all",
        ran_torch_work=True,
        totals={
            "flops": flops,
            "macs": flops // 2,
            "params": params,
            "nonzero_params": params,
            "sparse_flops": flops,
            "param_bytes": 0,
        },
    )


def run_update(path: Path, *rows: TestRow) -> update.UpdateResult:
    return update_pyproject(path, load_config(path), list(rows), {}, None)


def counts(result: update.UpdateResult) -> tuple[int, int, int]:
    return len(result.updated), len(result.new), len(result.unchanged)


def leftovers(directory: Path) -> list[str]:
    """The lock and temporary files of an update still in `directory`."""
    return sorted(p.name for p in directory.iterdir() if ".flopbudget." in p.name)


def entry(nodeid: str, flops_key: str, flops: object, params: object, nl: str = "\n") -> str:
    """A new entry as the update writes it, with the blank line that separates it."""
    lines = ["", f'[tool.flopbudget.tests."{nodeid}"]', f"{flops_key} = {flops}"]
    return nl.join([*lines, f"max_params = {params}", ""])


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each write waits first, so that concurrent updates overlap (without the lock, the later
    writer would replace the file with its own edit of the old text)."""
    write = update._write_replacing

    def slow(target: Path, data: bytes) -> None:
        time.sleep(0.05)
        write(target, data)

    monkeypatch.setattr(update, "_write_replacing", slow)


# --- the lock ---------------------------------------------------------------------------------


def test_concurrent_updates_from_threads_all_land(tmp_path, slow_writes):
    path = tmp_path / "pyproject.toml"
    path.write_text('# budgets\n[project]\nname = "demo"\n', encoding="utf-8")
    writers = 6
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def one(index: int) -> None:
        barrier.wait()
        try:
            run_update(path, row(f"test_{index}.py::test_a", flops=1000 * (index + 1)))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    tests = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["flopbudget"]["tests"]
    assert tests == {
        f"test_{i}.py::test_a": {"max_kflops": i + 1, "max_params": 100} for i in range(writers)
    }
    assert path.read_text(encoding="utf-8").startswith('# budgets\n[project]\nname = "demo"\n')
    assert leftovers(tmp_path) == []


def test_two_updating_pytest_runs_at_once_both_land(pytester):
    """Two processes on two test files of one project, their writes slowed down to overlap."""
    pytester.makepyfile(test_a=TEST_A, test_b=TEST_A.replace("(10, 10)", "(10, 20)"))
    pytester.makeconftest(
        """
        import time
        import pytest_flopbudget.budgets.update as update

        write = update._write_replacing

        def slow(target, data):
            time.sleep(0.5)
            write(target, data)

        update._write_replacing = slow
        """
    )
    path = pytester.path / "pyproject.toml"
    path.write_text('[tool.flopbudget.tests."test_*.py::*"]\nmax_flops = 1\n', encoding="utf-8")
    environment = {**os.environ, "PYTEST_ADDOPTS": "-p no:hypothesispytest -p no:cacheprovider"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "--flop-budget-update", name],
            cwd=pytester.path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("test_a.py", "test_b.py")
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    for output in outputs:
        assert "0 updated, 1 new, 0 unchanged, 0 pinned" in output
    tests = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["flopbudget"]["tests"]
    assert tests == {
        "test_*.py::*": {"max_flops": 1},
        "test_a.py::test_a": {"max_flops": FLOPS, "max_params": PARAMS},
        "test_b.py::test_a": {
            "max_kflops": linear_flops(4, 10, 20) / 1000,
            "max_params": linear_params(10, 20),
        },
    }
    assert leftovers(pytester.path) == []


# --- SIGKILL ----------------------------------------------------------------------------------

# A child that rewrites the one limit back and forth (1000 <-> 5000 FLOPs: each one is more than
# 20% away from the other, so every pass writes) until it is killed.
FLIPPING_CHILD = """
import sys, time
from pathlib import Path
from pytest_flopbudget.budgets.config import load_config
from pytest_flopbudget.budgets.update import update_pyproject
from pytest_flopbudget.budgets.verdict import TestRow

path = Path(sys.argv[1])
if len(sys.argv) > 2:  # write the temporary file, then stop before the replace
    import os
    os.replace = lambda *args: (print("written", flush=True), time.sleep(60))
print("ready", flush=True)
for flops in [5000, 1000] * 10_000:
    row = TestRow(nodeid="test_x.py::test_a", location="test_x.py:1", count="all",
                  ran_torch_work=True, totals={"flops": flops, "macs": flops // 2,
                  "params": 100, "nonzero_params": 100, "sparse_flops": flops, "param_bytes": 0})
    update_pyproject(path, load_config(path), [row], {}, None)
"""
# Long enough that a write takes a while (more places for a kill to land).
PADDING = "".join(f"# line {i}: keep me exactly as I am\n" for i in range(3000))
OLD = f'{PADDING}[tool.flopbudget.tests."{NODE}"]\nmax_flops = 1000  # kept\nmax_params = 100\n'
NEW = OLD.replace("max_flops = 1000", "max_flops = 5000")


def start_child(path: Path, *extra: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", FLIPPING_CHILD, str(path), *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "ready\n"
    return child


def kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()


def test_a_kill_between_writing_and_replacing_leaves_the_old_file_and_the_next_run_cleans(
    tmp_path,
):
    path = tmp_path / "pyproject.toml"
    path.write_text(OLD, encoding="utf-8")
    child = start_child(path, "stop-before-replace")
    assert child.stdout.readline() == "written\n"
    kill(child)
    assert path.read_text(encoding="utf-8") == OLD
    temporary = update.temp_path(path)
    assert temporary.read_text(encoding="utf-8") == NEW  # what the killed run left
    assert leftovers(tmp_path) == sorted([temporary.name, update.lock_path(path).name])

    assert counts(run_update(path, row(flops=1000))) == (0, 0, 1)  # nothing to write...
    assert path.read_text(encoding="utf-8") == OLD
    assert leftovers(tmp_path) == []  # ...and still the leftovers are gone


def test_a_kill_at_random_points_leaves_the_old_or_the_new_file(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text(OLD, encoding="utf-8")
    chooser = random.Random(13)
    for _ in range(6):
        child = start_child(path)
        time.sleep(chooser.uniform(0.05, 0.4))
        kill(child)
        assert path.read_text(encoding="utf-8") in (OLD, NEW)
    assert counts(run_update(path, row(flops=5000))) in ((1, 0, 0), (0, 0, 1))
    assert path.read_text(encoding="utf-8") == NEW
    assert leftovers(tmp_path) == []


# --- the file itself: symlink, permissions, line endings, layout ------------------------------


def test_a_symlinked_pyproject_is_updated_through_the_link(tmp_path):
    real = tmp_path / "config" / "pyproject.toml"
    real.parent.mkdir()
    real.write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    link = tmp_path / "pyproject.toml"
    link.symlink_to(Path("config") / "pyproject.toml")

    assert counts(run_update(link, row())) == (0, 1, 0)
    assert link.is_symlink() and os.readlink(link) == os.path.join("config", "pyproject.toml")
    expected = "[project]\nname = 'demo'\n" + entry(NODE, "max_kflops", 1, 100)
    assert real.read_text(encoding="utf-8") == expected
    assert leftovers(tmp_path) == [] and leftovers(real.parent) == []


def test_a_read_only_pyproject_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    path.chmod(0o444)
    with pytest.raises(UpdateError) as raised:
        run_update(path, row())
    assert str(raised.value) == f"{path} not updated: the file is read-only (no write permission)"
    assert path.read_text(encoding="utf-8") == "[project]\nname = 'demo'\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_the_mode_bits_are_kept(tmp_path, mode):
    path = tmp_path / "pyproject.toml"
    path.write_text("", encoding="utf-8")
    path.chmod(mode)
    assert counts(run_update(path, row())) == (0, 1, 0)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_crlf_file_stays_crlf_and_a_second_run_does_not_touch_it(tmp_path):
    path = tmp_path / "pyproject.toml"
    other = "test_y.py::test_b"
    before = (
        '[project]\r\nname = "demo"\r\n\r\n'
        f'[tool.flopbudget.tests."{NODE}"]\r\nmax_flops = 5000  # generous\r\nmax_params = 100\r\n'
    )
    path.write_bytes(before.encode())
    result = run_update(path, row(flops=1000), row(other, flops=2000))
    assert counts(result) == (1, 1, 0)
    after = path.read_bytes()
    expected = before.replace("5000", "1000") + entry(other, "max_kflops", 2, 100, nl="\r\n")
    assert after == expected.encode()
    assert b"\n" not in after.replace(b"\r\n", b"")

    written = path.stat()
    again = run_update(path, row(flops=1000), row(other, flops=2000))
    assert counts(again) == (0, 0, 2)
    assert path.read_bytes() == after
    # not rewritten at all: the same file, untouched since
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


@pytest.mark.parametrize("newlines", [0, 1, 2])
def test_the_file_ends_with_as_many_newlines_as_before(tmp_path, newlines):
    path = tmp_path / "pyproject.toml"
    before = f'[project]\nname = "demo"\n\n[tool.flopbudget.tests."{NODE}"]\nmax_flops = 5000'
    path.write_text(before + "\n" * newlines, encoding="utf-8")
    other = "test_y.py::test_b"
    assert counts(run_update(path, row(flops=1000), row(other, flops=2000))) == (1, 1, 0)
    expected = before.replace("5000", "1000") + "\n" + entry(other, "max_kflops", 2, 100)
    assert path.read_text(encoding="utf-8") == expected.rstrip("\n") + "\n" * newlines


@pytest.mark.parametrize(
    "text",
    [
        "tool.flopbudget.max_gflops = 1\n",
        "[tool]\nflopbudget.max_gflops = 1\n",
        "[tool.flopbudget]\nmax_gflops = 1\n",
    ],
)
def test_dotted_keys_gain_no_blank_lines(tmp_path, text):
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    idle = replace(row("t.py::c"), ran_torch_work=False)
    for _ in range(3):  # nothing to update: a pinned test, one that measured nothing
        result = update_pyproject(path, load_config(path), [row(), idle], {NODE: "t.py:1"}, None)
        assert (counts(result), len(result.pinned)) == ((0, 0, 0), 1)
        assert path.read_text(encoding="utf-8") == text
    other = "test_y.py::test_b"
    assert counts(run_update(path, row(other))) == (0, 1, 0)
    written = path.read_text(encoding="utf-8")
    assert tomllib.loads(written)["tool"]["flopbudget"] == {
        "max_gflops": 1,
        "tests": {other: {"max_kflops": 1, "max_params": 100}},
    }
    assert written == text + entry(other, "max_kflops", 1, 100)
    for _ in range(2):
        assert counts(run_update(path, row(other))) == (0, 0, 1)
        assert path.read_text(encoding="utf-8") == written


def test_an_inline_flopbudget_table_is_rewritten_as_a_table(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool]\nflopbudget = { max_gflops = 1, count = "all" }\n\n[tool.ruff]\nline-length = 99\n',
        encoding="utf-8",
    )
    result = run_update(path, row())
    assert counts(result) == (0, 1, 0)
    assert "  rewrote [tool.flopbudget], an inline table, as a table" in result.lines(path)
    written = path.read_text(encoding="utf-8")
    assert tomllib.loads(written)["tool"] == {
        "flopbudget": {
            "max_gflops": 1,
            "count": "all",
            "tests": {NODE: {"max_kflops": 1, "max_params": 100}},
        },
        "ruff": {"line-length": 99},
    }
    assert counts(run_update(path, row())) == (0, 0, 1)
    assert path.read_text(encoding="utf-8") == written


def test_an_inline_test_entry_is_updated_in_place(tmp_path):
    path = tmp_path / "pyproject.toml"
    before = f'[tool.flopbudget.tests]\n"{NODE}" = {{ max_flops = 5000, max_params = 100 }}  # c\n'
    path.write_text(before, encoding="utf-8")
    assert counts(run_update(path, row(flops=1000))) == (1, 0, 0)
    assert path.read_text(encoding="utf-8") == before.replace("5000", "1000")


def test_a_rewrite_that_would_change_other_content_is_refused(tmp_path, monkeypatch):
    """The last guard: the new text must read back as the old one outside the test entries."""
    path = tmp_path / "pyproject.toml"
    before = '[project]\nname = "demo"\n'
    path.write_text(before, encoding="utf-8")
    dumps = update.tomlkit.dumps
    monkeypatch.setattr(update.tomlkit, "dumps", lambda d: dumps(d).replace("demo", "oops"))
    with pytest.raises(UpdateError, match=r"could not be rewritten without changing other"):
        run_update(path, row())
    assert path.read_text(encoding="utf-8") == before
    assert leftovers(tmp_path) == []


def test_a_failing_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "pyproject.toml"
    path.write_text("", encoding="utf-8")

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(update.os, "fsync", full)
    with pytest.raises(UpdateError, match=r"not updated: \[Errno 28\] No space left on device"):
        run_update(path, row())
    assert path.read_text(encoding="utf-8") == ""
    assert leftovers(tmp_path) == []


# --- through the plugin: Ctrl-C, read-only, report paths ----------------------------------------


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_x=TEST_A)
    return pytester


def test_an_interrupted_run_writes_no_update(project):
    project.makepyfile(
        test_y="def test_stop():\n    raise KeyboardInterrupt\n",
    )
    path = project.path / "pyproject.toml"
    before = f'[tool.flopbudget.tests."{NODE}"]\nmax_flops = 1\n'  # over budget: would be updated
    path.write_text(before, encoding="utf-8")
    result = project.runpytest(
        "--flop-budget-update", "test_x.py", "test_y.py", no_reraise_ctrlc=True
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [f"flop budget update: the run was interrupted; {path} not updated"]
    )
    assert path.read_text(encoding="utf-8") == before
    assert leftovers(project.path) == []


def test_a_run_stopped_by_a_failure_still_writes_what_it_measured(project):
    project.makepyfile(test_y="def test_fails():\n    assert False\n")
    path = project.path / "pyproject.toml"
    path.write_text(f'[tool.flopbudget.tests."{NODE}"]\nmax_flops = 1\n', encoding="utf-8")
    result = project.runpytest("--flop-budget-update", "-x", "test_x.py", "test_y.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (
        path.read_text(encoding="utf-8")
        == f'[tool.flopbudget.tests."{NODE}"]\nmax_flops = {FLOPS}\n'
    )


def test_a_read_only_pyproject_is_one_error_line_in_the_run(project):
    path = project.path / "pyproject.toml"
    path.write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    path.chmod(0o444)
    result = project.runpytest("--flop-budget-update")
    assert result.ret == pytest.ExitCode.OK
    lines = [line for line in result.outlines if "not updated" in line]
    assert lines == [
        f"flop budget update: {path} not updated: the file is read-only (no write permission)"
    ]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert path.read_text(encoding="utf-8") == "[project]\nname = 'demo'\n"


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("reports", "it is a directory"),
        ("afile/sub/flops.json", "{root}/afile is not a directory"),
        ("x" * 300 + ".json", "File name too long"),  # the OS's words
    ],
)
def test_an_unwritable_report_path_is_a_usage_error_at_start_up(project, target, problem):
    (project.path / "reports").mkdir()
    (project.path / "afile").write_text("", encoding="utf-8")
    result = project.runpytest(f"--flop-report=json:{target}")
    expected = problem.format(root=project.path)
    assert (
        f"--flop-report: cannot write a report to {project.path / target}: {expected}"
        in usage_error(result)
    )
    assert "test_x.py" not in result.stdout.str()  # nothing ran


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_report_that_fails_at_the_end_leaves_the_update_and_the_cache(project):
    path = project.path / "pyproject.toml"
    path.write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    result = project.runpytest(
        "--flop-budget-update", "--flop-report=json:/dev/full", "--flop-report=markdown:ok.md"
    )
    assert result.ret == pytest.ExitCode.OK
    errors = [line for line in result.outlines if "could not write" in line]
    assert errors == [
        "flop budget: could not write the json report to /dev/full: "
        "[Errno 28] No space left on device"
    ]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert (project.path / "ok.md").is_file()  # the other report still written
    tests = tomllib.loads(path.read_text(encoding="utf-8"))["tool"]["flopbudget"]["tests"]
    assert tests == {NODE: {"max_flops": FLOPS, "max_params": PARAMS}}
    cache = project.path / ".pytest_cache" / "v" / "flopbudget" / "last-run"
    assert NODE in cache.read_text(encoding="utf-8")
