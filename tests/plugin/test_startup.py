"""Start-up cost: no torch until a budgeted test runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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


def test_numpy_is_a_dependency_so_a_first_run_shows_no_numpy_warning(pytester):
    """torch warns "Failed to initialize NumPy" on import when numpy is missing: the package
    depends on numpy, so installing it brings numpy and a first run shows no such warning."""
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    assert [dep for dep in dependencies if re.match(r"numpy\b", dep)]
    pytester.makepyfile(
        "import pytest, torch\n\n"
        "@pytest.mark.flop_budget(max_gflops=1)\n"
        "def test_a():\n    torch.nn.Linear(4, 4)(torch.randn(2, 4))\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "Failed to initialize NumPy" not in result.stdout.str() + result.stderr.str()


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
