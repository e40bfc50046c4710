"""Start-up cost: no torch until a budgeted test runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import (
    write_pyproject,
)

# --- 13. start-up cost: no torch until a budgeted test runs --------------------------------------


def test_importing_the_plugin_imports_no_torch():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest_flopbudget.plugin"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "pytest_flopbudget.plugin" in imported
    assert [name for name in imported if name.split(".")[0] == "torch"] == []


def test_collecting_imports_no_torch(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the plugin under test
    write_pyproject(
        pytester,
        """
        [tool.flopbudget]
        max_gflops = 1

        [tool.flopbudget.tests."test_other.py::*"]
        max_params = "1M"
        """,
    )
    pytester.makeconftest(
        """
        import sys

        def pytest_sessionfinish(session):
            plugin = session.config.pluginmanager.has_plugin("flopbudget-session")
            torch = sorted(name for name in sys.modules if name.split(".")[0] == "torch")
            with open("seen.txt", "w") as file:
                file.write(f"plugin={plugin} torch={torch}")
        """
    )
    pytester.makepyfile(
        test_plain="def test_a():\n    assert True\n",
        test_marked=(
            "import pytest\n\n\n@pytest.mark.flop_budget(max_gflops=1)\ndef test_b():\n    pass\n"
        ),
    )
    result = pytester.runpytest_subprocess("--collect-only", "-p", "flopbudget")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*2 tests collected*"])
    assert (pytester.path / "seen.txt").read_text() == "plugin=True torch=[]"
