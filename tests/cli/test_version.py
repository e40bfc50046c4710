"""The version, where a user looks for it: ``flopbudget --version`` and pytest's header."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import pytest_flopbudget
from pytest_flopbudget import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_package_the_distribution_and_pyproject_say_one_version():
    assert pytest_flopbudget.__version__ == VERSION
    assert version("pytest-flopbudget") == VERSION


def test_flopbudget_version_prints_it_and_needs_no_model(capsys):
    assert cli.main(["--version"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert (out, err) == (f"flopbudget {VERSION}\n", "")
    cli.main(["--help"])
    assert "--version" in capsys.readouterr().out


def test_pytest_shows_the_plugins_version_as_it_does_every_plugins(pytester: pytest.Pytester):
    """pytest names each plugin with its distribution's version: in the session header and
    under ``pytest --version --version``."""
    pytester.makepyfile("def test_a():\n    pass\n")
    header = pytester.runpytest("-p", "no:cacheprovider")
    header.stdout.re_match_lines([rf"^plugins: .*\bflopbudget-{VERSION}\b"])
    versions = pytester.runpytest("--version", "--version")
    assert f"pytest-flopbudget-{VERSION} at " in versions.stdout.str() + versions.stderr.str()
