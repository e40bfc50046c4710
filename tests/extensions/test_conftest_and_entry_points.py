"""Teaching the counter through plugins: conftest.py hooks under pytest (pytester) and an
installed package in the entry point group ``pytest_flopbudget``, used by profile(), by the
plugin and by the `flopbudget` command.

The custom ops are defined here, once, in this process: the pytester runs are in-process and
pytester drops the modules an inner run imported (a custom op defined inside one could not be
defined again). Each is called once at import, so what its first call imports is imported here.
`fbplug::scaled_gelu` is priced at 9 FLOPs per output element by the conftest formulas below.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import pytest_flopbudget as fb
import pytest_flopbudget.engine.counter
from pytest_flopbudget.engine import registry
from tests.support import linear_flops, linear_macs, row_of, usage_error


@torch.library.custom_op("fbplug::scaled_gelu", mutates_args=())
def scaled_gelu(x: torch.Tensor, scale: float) -> torch.Tensor:
    return nn.functional.gelu(x) * scale


@scaled_gelu.register_fake
def _(x: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.empty_like(x)


scaled_gelu(torch.zeros(2), 1.0)
scaled_gelu(torch.zeros(2, device="meta"), 1.0)

B, D = 4, 8
GELU_FLOPS = 9 * B * D
LINEAR = linear_flops(B, D, D)

MODEL = '''
import torch
from torch import nn


class GeluHead(nn.Module):
    """Linear(8, 8), then the custom op fbplug::scaled_gelu."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return torch.ops.fbplug.scaled_gelu(self.lin(x), 0.5)


class Opaque(nn.Module):
    """Two Linear(8, 8) that a module-cost hook prices as a unit."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x):
        return self.b(self.a(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.opaque = Opaque()
        self.head = nn.Linear(8, 8)

    def forward(self, x):
        return self.head(self.opaque(x))
'''

GELU_CONFTEST = """
from pytest_flopbudget import Cost


def gelu_cost(args, kwargs, out):
    return Cost(other_flops=9 * out.numel())


def pytest_flopbudget_formulas():
    return {"fbplug::scaled_gelu": gelu_cost}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(flopmodels=MODEL)
    return pytester


def test_a_conftest_formula_counts_a_custom_op_under_the_marker_and_the_fixture(project):
    project.makeconftest(GELU_CONFTEST)
    project.makepyfile(
        test_gelu=f"""
        import pytest, torch
        from flopmodels import GeluHead

        @pytest.mark.flop_budget(max_flops={LINEAR + GELU_FLOPS})
        def test_marker():
            GeluHead()(torch.randn({B}, {D}))

        def test_fixture(flop_budget):
            result = flop_budget.profile(GeluHead(), torch.randn({B}, {D}))
            assert result.uncounted == {{}}
            assert result.flops == {LINEAR + GELU_FLOPS}

        @pytest.mark.flop_budget(max_flops={LINEAR + GELU_FLOPS - 1})
        def test_over():
            GeluHead()(torch.randn({B}, {D}))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    assert row_of(result, "test_gelu.py::test_marker")["FLOPs"] == str(LINEAR + GELU_FLOPS)
    assert row_of(result, "test_gelu.py::test_fixture")["FLOPs"] == str(LINEAR + GELU_FLOPS)
    result.stdout.fnmatch_lines([f"*FLOP budget exceeded: {LINEAR + GELU_FLOPS} FLOPs > *"])


def test_a_conftest_formula_serves_profile_in_an_unbudgeted_test_too(project):
    project.makeconftest(GELU_CONFTEST)
    project.makepyfile(
        test_plain=f"""
        import torch
        import pytest_flopbudget
        from flopmodels import GeluHead

        def test_plain():
            result = pytest_flopbudget.profile(GeluHead(), torch.randn({B}, {D}))
            assert (result.flops, result.uncounted) == ({LINEAR + GELU_FLOPS}, {{}})
        """
    )
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_module_cost_hook_replaces_its_modules_inner_ops(project):
    project.makeconftest(
        """
        from pytest_flopbudget import Cost

        def pytest_flopbudget_module_cost(module, args, output):
            if type(module).__name__ == "Opaque":
                return Cost(macs=100, other_flops=7)
            return None
        """
    )
    project.makepyfile(
        test_net=f"""
        import pytest, torch
        from flopmodels import Net

        @pytest.mark.flop_budget(max_flops=10**9)
        def test_net():
            Net()(torch.randn({B}, {D}))

        def test_profile(flop_budget):
            result = flop_budget.profile(Net(), torch.randn({B}, {D}))
            assert result.macs == 100 + {linear_macs(B, D, D)}
            assert result.modules["opaque"].flops == 2 * 100 + 7
            assert result.modules["opaque.a"].flops == 0
            assert result.ops["module:Opaque"].calls == 1
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert row_of(result, "test_net.py::test_net")["FLOPs"] == str(2 * 100 + 7 + LINEAR)


def test_a_module_cost_hook_prices_a_custom_op_inside_it_and_lists_nothing(pytester):
    """A module wrapping mylib::opaque (no formula; tests/custom_ops.py), priced by a conftest
    hook at 3 FLOPs per element: the op inside is neither priced nor listed, so strict passes."""
    pytester.makeconftest(
        """
        from pytest_flopbudget import Cost

        def pytest_flopbudget_module_cost(module, args, output):
            if type(module).__name__ == "OpaqueKernel":
                return Cost(other_flops=3 * output.numel())
            return None
        """
    )
    pytester.makepyfile(
        test_opaque=f"""
        import pytest, torch
        from torch import nn

        class OpaqueKernel(nn.Module):
            def forward(self, x):
                return torch.ops.mylib.opaque(x)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.kernel = OpaqueKernel()
                self.head = nn.Linear({D}, {D})

            def forward(self, x):
                return self.head(self.kernel(x))

        @pytest.mark.flop_budget(max_flops=10**9, strict=True)
        def test_strict():
            Net()(torch.randn({B}, {D}))

        def test_profile(flop_budget):
            result = flop_budget.profile(Net(), torch.randn({B}, {D}), strict=True)
            assert result.uncounted == {{}}
            assert result.flops == {3 * B * D + LINEAR}
            assert result.modules["kernel"].flops == {3 * B * D}
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert row_of(result, "test_opaque.py::test_strict")["FLOPs"] == str(3 * B * D + LINEAR)


def test_a_conftest_formula_for_a_composite_op_is_reported_in_the_warnings_summary(project):
    project.makeconftest(
        """
        from pytest_flopbudget import Cost

        def pytest_flopbudget_formulas():
            return {"aten::linear": lambda args, kwargs, out: Cost(macs=1)}
        """
    )
    project.makepyfile(
        test_linear=f"""
        import pytest, torch

        @pytest.mark.flop_budget(max_flops=10**9)
        def test_linear():
            torch.nn.Linear({D}, {D})(torch.randn({B}, {D}))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [f"*UserWarning: the formula for aten::linear from conftest {project.path}*not used*"]
    )
    assert row_of(result, "test_linear.py::test_linear")["FLOPs"] == str(LINEAR)


def test_a_formula_that_raises_is_named_and_fails_under_strict(project):
    project.makeconftest(
        """
        def broken(args, kwargs, out):
            return 1 / 0

        def pytest_flopbudget_formulas():
            return {"fbplug::scaled_gelu": broken}
        """
    )
    project.makepyfile(
        test_strict=f"""
        import pytest, torch
        from flopmodels import GeluHead

        @pytest.mark.flop_budget(max_flops=10**9, strict=True)
        def test_strict():
            GeluHead()(torch.randn({B}, {D}))

        @pytest.mark.flop_budget(max_flops=10**9)
        def test_lenient():
            GeluHead()(torch.randn({B}, {D}))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*strict: 1 op has no cost formula: fbplug::scaled_gelu (formula failed: "
            "ZeroDivisionError: division by zero) (1 call)"
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_duplicate_registration_is_refused_and_override_wins(project):
    project.makeconftest(
        """
        from pytest_flopbudget import Cost

        def pytest_flopbudget_formulas():
            return {"aten::addmm": lambda args, kwargs, out: Cost(macs=1)}
        """
    )
    project.makepyfile(
        test_mm="""
        import pytest, torch

        @pytest.mark.flop_budget(max_flops=10**9)
        def test_mm():
            torch.nn.Linear(8, 8)(torch.randn(4, 8))
        """
    )
    message = usage_error(project.runpytest("-p", "no:cacheprovider"))
    assert "conftest.py: a formula for aten::addmm is already registered by " in message
    assert "pytest_flopbudget's built-in table" in message and "override=True" in message
    project.makeconftest(
        """
        from pytest_flopbudget import Cost, Formula

        def pytest_flopbudget_formulas():
            return {"aten::addmm": Formula(lambda args, kwargs, out: Cost(macs=1), override=True)}
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert row_of(result, "test_mm.py::test_mm")["FLOPs"] == "2"


def test_two_conftests_pricing_one_op_name_both(project):
    project.makeconftest(GELU_CONFTEST)
    sub = project.mkpydir("sub")
    (sub / "conftest.py").write_text(textwrap.dedent(GELU_CONFTEST))
    (sub / "test_sub.py").write_text(
        "import pytest, torch\nfrom flopmodels import GeluHead\n\n"
        "@pytest.mark.flop_budget(max_flops=10**9)\n"
        "def test_sub():\n    GeluHead()(torch.randn(4, 8))\n"
    )
    message = usage_error(project.runpytest("-p", "no:cacheprovider"))
    assert f"conftest {sub / 'conftest.py'}: a formula for fbplug::scaled_gelu" in message
    assert f"already registered by conftest {project.path / 'conftest.py'}" in message


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        ("[1, 2]", "pytest_flopbudget_formulas returned a list, not a mapping"),
        ('{"scaled_gelu": print}', "'scaled_gelu' is not a full op name"),
        ('{"fbplug::scaled_gelu": 3}', "is a int, not a callable"),
    ],
)
def test_a_malformed_mapping_is_a_usage_error_naming_the_conftest(project, returned, expected):
    project.makeconftest(f"def pytest_flopbudget_formulas():\n    return {returned}\n")
    project.makepyfile(
        test_one="""
        import pytest

        @pytest.mark.flop_budget(max_flops=1)
        def test_one():
            pass
        """
    )
    message = usage_error(project.runpytest("-p", "no:cacheprovider"))
    assert f"conftest {project.path / 'conftest.py'}: " in message
    assert expected in message
    assert "Traceback" not in message


# ---- an installed package (entry point group pytest_flopbudget) -----------------------------

PACKAGE_FORMULAS = """
from pytest_flopbudget import Cost


def triple_cost(args, kwargs, out):
    return Cost(other_flops=3 * out.numel())


def pytest_flopbudget_formulas():
    return {"fbpkg::triple": triple_cost}
"""

PACKAGE_MODELS = '''
import torch
from torch import nn

LIBRARY = torch.library.Library("fbpkg", "DEF")
LIBRARY.define("triple(Tensor x) -> Tensor")
LIBRARY.impl("triple", lambda x: x * 3, "CompositeExplicitAutograd")


class Tripler(nn.Module):
    """Linear(8, 8), then fbpkg::triple."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return torch.ops.fbpkg.triple(self.lin(x))


def build():
    return Tripler()
'''

TRIPLER_FLOPS = LINEAR + 3 * B * D
CLI_ARGS = ["--input-shape", f"{B},{D}", "--json", "--strict"]


def forget_installed_plugins() -> None:
    importlib.invalidate_caches()
    registry.plugin_manager.cache_clear()
    registry._installed.cache_clear()
    registry._for_pytest_cache.clear()


@pytest.fixture(scope="module")
def installed_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package on sys.path with a .dist-info whose entry_points.txt names its formulas."""
    root = tmp_path_factory.mktemp("site")
    package = root / "fbplugpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flopbudget.py").write_text(PACKAGE_FORMULAS)
    (package / "models.py").write_text(PACKAGE_MODELS)
    dist_info = root / "fbplugpkg-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fbplugpkg\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[pytest_flopbudget]\nfbplugpkg = fbplugpkg.flopbudget\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        forget_installed_plugins()
        importlib.import_module("fbplugpkg.models")  # defines fbpkg::triple, once
        importlib.import_module("fbplugpkg.flopbudget")
        yield root
    forget_installed_plugins()


def test_an_installed_packages_formula_is_used_by_profile(installed_package):
    from fbplugpkg.models import build

    result = fb.profile(build(), torch.randn(B, D))
    assert result.uncounted == {}
    assert result.flops == TRIPLER_FLOPS
    with torch.device("meta"):
        model = build()
    meta = fb.profile(model, torch.randn(B, D, device="meta"))
    assert (meta.macs, meta.flops) == (result.macs, result.flops)


def test_an_installed_packages_formula_is_used_by_the_plugin(installed_package, project):
    project.makepyfile(
        test_pkg=f"""
        import pytest, torch
        from fbplugpkg.models import build

        @pytest.mark.flop_budget(max_flops={TRIPLER_FLOPS})
        def test_pkg():
            build()(torch.randn({B}, {D}))
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert row_of(result, "test_pkg.py::test_pkg")["FLOPs"] == str(TRIPLER_FLOPS)


def test_an_installed_packages_formula_is_used_by_the_command(installed_package):
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flopbudget", "fbplugpkg.models:build", *CLI_ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=installed_package,
        env={**os.environ, "PYTHONPATH": str(installed_package)},
    )
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["models"]
    assert entry["totals"]["flops"] == TRIPLER_FLOPS
    assert entry["uncounted"] == {}


def test_an_entry_point_that_fails_to_load_is_an_error_naming_it(tmp_path, monkeypatch):
    dist_info = tmp_path / "fbbroken-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fbbroken\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[pytest_flopbudget]\nbroken = fbbroken_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    forget_installed_plugins()
    try:
        with pytest.raises(registry.ExtensionError) as refused:
            fb.profile(nn.Linear(2, 2), torch.randn(1, 2))
        message = str(refused.value)
        assert message.startswith("entry point 'broken' of fbbroken (fbbroken_missing): ")
        assert "ModuleNotFoundError" in message
    finally:
        monkeypatch.undo()
        forget_installed_plugins()
