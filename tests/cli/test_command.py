"""The `flopbudget` command (pytest_flopbudget.cli) and the `max_param_bytes` budget key.

Every model source is saved here, loaded by the command and counted; the expected numbers are the
closed forms below or the in-memory count of the very model that was saved (the independent
check), never pasted output. Most tests call `cli.main([...])` in-process; two run the command
as a subprocess (torch's import costs ~2 s each).
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
from torch import nn

import pytest_flopbudget.engine.counter
from pytest_flopbudget import cli, profile
from pytest_flopbudget.budgets.check import check
from pytest_flopbudget.budgets.quantities import QUANTITIES as REMEMBERED
from pytest_flopbudget.budgets.update import round_up
from pytest_flopbudget.budgets.values import parse_limits
from pytest_flopbudget.cli import sources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


ROOT = Path(__file__).resolve().parents[2]


# torch 2.9+ deprecates torch.jit.script / trace / save, which these tests call on purpose
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"
)


# --- the models, importable as f"{__name__}:<factory>" ----------------------------------------


class MLP(nn.Module):
    """Linear(10, 20) → ReLU → Linear(20, 5) → BatchNorm1d(5)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(10, 20)
        self.b = nn.Linear(20, 5)
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.b(torch.relu(self.a(x))))


def mlp() -> MLP:
    """The same weights at every call."""
    torch.manual_seed(0)
    return MLP()


class TokenModel(nn.Module):
    """Embedding(100, 8) → Linear(8, 4): fed token ids."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))


MLP_INSTANCE = mlp()


class Layered(nn.Module):
    """The issue's model: a ModuleList of two Linear(4, 4), then Linear(4, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


class Containers(nn.Module):
    """Containers never called themselves: a ModuleDict, and a ModuleList inside a ModuleList."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList([nn.ModuleList([nn.Linear(4, 4)])])
        self.heads = nn.ModuleDict({"left": nn.Linear(4, 2), "right": nn.Linear(4, 2)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages[0][0](x)
        return self.heads["left"](x) + self.heads["right"](x)


def not_a_model() -> int:
    return 42


def broken_factory() -> nn.Module:
    raise ValueError("no weights here")


SPEC = f"{__name__}:mlp"


# --- closed forms: MLP in eval mode on a (4, 10) input -----------------------------------------
# a: 4·10·20 MACs, 2 FLOPs each + 4·20 bias adds; ReLU 4·20; b: 4·20·5 MACs + 4·5 bias adds;
# batch norm on running statistics: 4 FLOPs per element.
MACS = 4 * 10 * 20 + 4 * 20 * 5


FLOPS = (2 * 4 * 10 * 20 + 4 * 20) + 4 * 20 + (2 * 4 * 20 * 5 + 4 * 5) + 4 * 4 * 5


PARAMS = (10 * 20 + 20) + (20 * 5 + 5) + (5 + 5)


BUFFERS = 5 + 5  # running mean and variance (float32), plus num_batches_tracked (one int64)


PARAM_BYTES = 4 * (PARAMS + BUFFERS) + 8


assert (MACS, FLOPS, PARAMS, PARAM_BYTES) == (1200, 2660, 335, 1388)


TOP = [
    {"name": "a", "type": "Linear", "flops": 2 * 4 * 10 * 20 + 4 * 20},
    {"name": "b", "type": "Linear", "flops": 2 * 4 * 20 * 5 + 4 * 5},
    {"name": "bn", "type": "BatchNorm1d", "flops": 4 * 4 * 5},
]


def totals(result) -> dict[str, int | None]:
    # a latency estimate is no attribute of a Profile: None without --hardware
    return {key: getattr(result, key, None) for key in REMEMBERED}


def top_modules(result) -> list[dict[str, object]]:
    return [{"name": m.name, "type": m.type_name, "flops": m.flops} for m in result.top_modules()]


def in_memory(model: nn.Module, *shapes: tuple[int, ...]):
    return profile(model.eval(), *(torch.randn(shape) for shape in shapes))


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: object) -> dict:
    """The one model entry of `--json`'s document."""
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["schema"] == "pytest-flopbudget/profile"
    assert document["schema_version"] == 1
    (entry,) = document["models"]
    return entry


def bad_input(capsys, *argv: object) -> str:
    """The error line of a bad input: exit status 2, one line on stderr, no traceback."""
    code, out, err = run(capsys, *argv)
    assert code == cli.EXIT_BAD_INPUT
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("flopbudget: error: ")
    assert "Traceback" not in err
    return err.removeprefix("flopbudget: error: ").rstrip("\n")


# --- import specs ----------------------------------------------------------------------------


def test_an_import_spec_factory_is_counted_as_in_memory(capsys):
    entry = run_json(capsys, SPEC, "--input-shape", "4,10")
    expected = totals(in_memory(mlp(), (4, 10)))
    assert entry["totals"] == expected
    assert {k: expected[k] for k in ("flops", "macs", "params", "param_bytes")} == {
        "flops": FLOPS,
        "macs": MACS,
        "params": PARAMS,
        "param_bytes": PARAM_BYTES,
    }
    assert entry["top_modules"] == TOP
    assert entry["source"] == "import"
    assert entry["name"] == "MLP"
    assert (entry["device"], entry["mode"]) == ("cpu", "eval")
    assert entry["inputs"] == [{"shape": [4, 10], "dtype": "float32"}]


def test_the_json_totals_are_the_plugin_reports_totals_keys(capsys):
    entry = run_json(capsys, SPEC, "--input-shape", "4,10")
    assert tuple(entry["totals"]) == REMEMBERED
    assert set(entry) >= {"top_modules", "uncounted"}


def test_a_module_instance_is_used_as_is_and_meta_leaves_it_alone(capsys):
    entry = run_json(capsys, f"{__name__}:MLP_INSTANCE", "--input-shape", "4,10")
    assert entry["totals"] == totals(in_memory(MLP_INSTANCE, (4, 10)))
    meta = run_json(capsys, f"{__name__}:MLP_INSTANCE", "--input-shape", "4,10", "--meta")
    assert meta["device"] == "meta"
    assert {k: meta["totals"][k] for k in ("flops", "macs", "params", "param_bytes")} == {
        "flops": FLOPS,
        "macs": MACS,
        "params": PARAMS,
        "param_bytes": PARAM_BYTES,
    }
    assert meta["totals"]["nonzero_params"] is None  # no values on meta
    assert all(not p.is_meta for p in MLP_INSTANCE.parameters())


def test_meta_builds_the_factory_on_the_meta_device(capsys):
    entry = run_json(capsys, SPEC, "--input-shape", "4,10", "--meta")
    assert (entry["totals"]["flops"], entry["totals"]["params"]) == (FLOPS, PARAMS)
    assert entry["totals"]["nonzero_params"] is None
    assert entry["top_modules"] == TOP


def test_the_text_shows_the_tree_the_totals_and_the_param_bytes(capsys):
    code, out, err = run(capsys, SPEC, "--input-shape", "4,10")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{SPEC} (import spec), inputs (4, 10) float32, on cpu, eval mode"
    assert lines[1].startswith("MLP: 2.66 KFLOPs (all), 1.20 KMACs, params 335")
    assert any(line.startswith("  a (Linear)") for line in lines)
    assert any(line.startswith("  bn (BatchNorm1d)") for line in lines)
    assert f"totals: flops {FLOPS}, macs {MACS}, params {PARAMS}," in out
    assert "param bytes: 1.39 KB (1388 bytes" in out


def test_depth_limits_the_tree(capsys):
    code, out, _ = run(capsys, SPEC, "--input-shape", "4,10", "--depth", "0")
    assert code == 0
    assert not any(line.startswith("  a (Linear)") for line in out.splitlines())


def test_count_matmul_is_two_flops_per_mac(capsys):
    entry = run_json(capsys, SPEC, "--input-shape", "4,10", "--count", "matmul")
    assert entry["totals"]["flops"] == 2 * MACS


def test_train_counts_batch_norm_on_batch_statistics(capsys):
    entry = run_json(capsys, SPEC, "--input-shape", "4,10", "--train")
    model = mlp().train()
    assert entry["mode"] == "train"
    assert entry["totals"]["flops"] == profile(model, torch.randn(4, 10)).flops != FLOPS


def test_integer_inputs_such_as_token_ids(capsys):
    entry = run_json(capsys, f"{__name__}:TokenModel", "--input-shape", "2,7", "--dtype", "int64")
    # the embedding lookup costs 0; the head: 2·7·8·4 MACs, 2 FLOPs each + 2·7·4 bias adds
    assert entry["totals"]["macs"] == 2 * 7 * 8 * 4
    assert entry["totals"]["flops"] == 2 * (2 * 7 * 8 * 4) + 2 * 7 * 4
    assert entry["totals"]["params"] == 100 * 8 + 8 * 4 + 4
    assert entry["inputs"] == [{"shape": [2, 7], "dtype": "int64"}]


# --- files: TorchScript, torch.export, pickled modules, state_dicts ----------------------------


@pytest.mark.parametrize("how", ["script", "trace"])
def test_a_torchscript_archive_has_exact_totals_and_all_work_on_the_root(capsys, tmp_path, how):
    model = mlp().eval()
    x = torch.randn(4, 10)
    scripted = torch.jit.script(model) if how == "script" else torch.jit.trace(model, x)
    path = tmp_path / "model.pt"
    torch.jit.save(scripted, str(path))
    entry = run_json(capsys, path, "--input-shape", "4,10")
    assert entry["source"] == "torchscript"
    assert entry["totals"] == totals(profile(model, x))
    assert entry["top_modules"] == []  # the root holds all the work
    assert sources.TORCHSCRIPT_NOTE in entry["notes"]
    code, out, _ = run(capsys, path, "--input-shape", "4,10")
    assert code == 0
    assert "submodules of a TorchScript model cannot be attributed" in out
    assert "a (Linear)" not in out


def test_a_scripted_sequential_is_counted(capsys, tmp_path):
    """The issue's file: a scripted Sequential has a Python ``__len__`` besides its methods."""
    path = tmp_path / "seq.pt"
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(4, 4))), str(path))
    entry = run_json(capsys, path, "--input-shape", "2,4")
    # 2·4·4 MACs, 2 FLOPs each + 2·4 bias adds; 4·4 weights + 4 biases
    assert entry["totals"]["macs"] == 2 * 4 * 4
    assert entry["totals"]["flops"] == 2 * (2 * 4 * 4) + 2 * 4
    assert entry["totals"]["params"] == 4 * 4 + 4
    code, out, err = run(capsys, path, "--input-shape", "2,4")
    assert (code, err) == (0, "")
    assert out.startswith(f"{path} (TorchScript archive)")


def test_a_torchscript_archive_on_meta(capsys, tmp_path):
    model = mlp().eval()
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    entry = run_json(capsys, path, "--input-shape", "4,10", "--meta")
    assert (entry["totals"]["flops"], entry["totals"]["macs"]) == (FLOPS, MACS)
    assert (entry["totals"]["params"], entry["totals"]["param_bytes"]) == (PARAMS, PARAM_BYTES)
    if entry["device"] == "meta":
        assert entry["totals"]["nonzero_params"] is None
    else:  # a torch that cannot load TorchScript on meta: counted on the CPU, and said so
        assert any(note.startswith("--meta:") for note in entry["notes"])


def test_a_torch_export_program_keeps_its_module_tree(capsys, tmp_path):
    model = mlp().eval()
    x = torch.randn(4, 10)
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    entry = run_json(capsys, path, "--input-shape", "4,10")
    assert entry["source"] == "export"
    assert entry["name"] == "MLP"
    expected = profile(model, x)
    assert entry["totals"] == totals(expected)
    assert entry["top_modules"] == top_modules(expected) == TOP
    # without --input-shape: the program's example inputs
    assert run_json(capsys, path)["inputs"] == [{"shape": [4, 10], "dtype": "float32"}]
    meta = run_json(capsys, path, "--meta")
    assert (meta["totals"]["flops"], meta["totals"]["params"]) == (FLOPS, PARAMS)
    assert meta["device"] == "meta" and meta["totals"]["nonzero_params"] is None


def module_tree(out: str) -> list[str]:
    """The module table of the command's text: its header to the first blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("module "))
    return lines[start : lines.index("", start)]


def tree_by_route(capsys, tmp_path: Path, factory: str) -> dict[str, list[str]]:
    """The printed module tree of one model loaded by each route the command knows."""
    model = globals()[factory]().eval()
    x = torch.randn(2, 4)
    files = {
        "export": tmp_path / "model.pt2",
        "torchscript": tmp_path / "model.pt",
        "pickle": tmp_path / "whole.pt",
    }
    torch.export.save(torch.export.export(model, (x,)), str(files["export"]))
    torch.jit.save(torch.jit.script(model), str(files["torchscript"]))
    torch.save(model, files["pickle"])
    trees = {}
    for route, model_arg in {"import": f"{__name__}:{factory}", **files}.items():
        code, out, err = run(capsys, model_arg, "--input-shape", "2,4", "--trust-pickle")
        assert code == 0, err
        trees[route] = module_tree(out)
    return trees


def test_the_module_tree_is_the_same_by_every_route(capsys, tmp_path):
    """Import spec, .pt2 and pickle print one tree, the ModuleList row and its children's
    indentation included; TorchScript, whose submodules cannot be attributed, prints its root
    row, the same as theirs."""
    trees = tree_by_route(capsys, tmp_path, "Layered")
    # per Linear(4, 4) on a (2, 4) input: 2·4·4 MACs, 2 FLOPs each + 2·4 bias adds, 4·4+4
    # params; the head: 2·4·2 MACs, 2 FLOPs each + 2·2 bias adds, 4·2+2 params
    linear = (2 * 4 * 4, 2 * 2 * 4 * 4 + 2 * 4, 4 * 4 + 4)  # MACs, FLOPs, params
    head = (2 * 4 * 2, 2 * 2 * 4 * 2 + 2 * 2, 4 * 2 + 2)
    total_flops = 2 * linear[1] + head[1]
    expected = [
        ("Layered", 1, 2 * linear[2] + head[2], 2 * linear[0] + head[0], total_flops),
        ("  layers (ModuleList)", 0, 2 * linear[2], 2 * linear[0], 2 * linear[1]),
        ("    layers.0 (Linear)", 1, linear[2], linear[0], linear[1]),
        ("    layers.1 (Linear)", 1, linear[2], linear[0], linear[1]),
        ("  head (Linear)", 1, head[2], head[0], head[1]),
    ]
    rows = [line.rsplit(None, 7) for line in trees["import"][2:]]
    assert [(label, int(c), int(p), int(m), int(f)) for label, c, p, m, f, *_ in rows] == expected
    assert trees["export"] == trees["pickle"] == trees["import"]
    (root,) = trees["torchscript"][2:]  # its own column widths: compare the cells
    assert root.split() == trees["import"][2].split()


def test_an_exported_container_is_named_by_its_children(capsys, tmp_path):
    """A .pt2 records the types of the modules it called only: a container never called is a
    ModuleList when its children are indices, a ModuleDict when they are names."""
    trees = tree_by_route(capsys, tmp_path, "Containers")
    assert trees["export"] == trees["pickle"] == trees["import"]
    labels = [line.rsplit(None, 7)[0] for line in trees["export"][2:]]
    assert labels == [
        "Containers",
        "  stages (ModuleList)",
        "    stages.0 (ModuleList)",
        "      stages.0.0 (Linear)",
        "  heads (ModuleDict)",
        "    left (Linear)",
        "    right (Linear)",
    ]


def test_a_pickled_module_is_refused_without_trust_pickle(capsys, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(mlp(), path)
    message = bad_input(capsys, path, "--input-shape", "4,10")
    assert message.startswith(f"{path} is a pickled object (it refers to {__name__}.MLP)")
    assert "unpickling it runs code from the file" in message
    assert "pass --trust-pickle" in message


def test_a_pickled_module_with_trust_pickle(capsys, tmp_path):
    model = mlp().eval()
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    entry = run_json(capsys, path, "--input-shape", "4,10", "--trust-pickle")
    assert entry["source"] == "pickle"
    assert entry["totals"] == totals(in_memory(model, (4, 10)))
    assert entry["top_modules"] == TOP
    meta = run_json(capsys, path, "--input-shape", "4,10", "--trust-pickle", "--meta")
    assert (meta["device"], meta["totals"]["flops"], meta["totals"]["nonzero_params"]) == (
        "meta",
        FLOPS,
        None,
    )


def pruned_state(tmp_path: Path) -> tuple[MLP, Path]:
    """An MLP with the first row of a.weight zeroed, and its state_dict saved."""
    model = mlp().eval()
    with torch.no_grad():
        model.a.weight[0].zero_()
    path = tmp_path / "state.pt"
    torch.save(model.state_dict(), path)
    return model, path


def test_a_state_dict_alone_gives_sizes_per_prefix_and_says_flops_need_the_arch(capsys, tmp_path):
    model, path = pruned_state(tmp_path)
    state = model.state_dict()
    entry = run_json(capsys, path)
    assert entry["source"] == "state_dict"
    everything = PARAMS + BUFFERS + 1  # a state_dict holds the buffers too
    nonzero = sum(int(torch.count_nonzero(t)) for t in state.values())
    # less the zeroed row of 10 and bn's zero bias, plus the running variance (ones); the running
    # mean and the batch counter are zeros
    assert nonzero == PARAMS - 10 - 5 + 5
    assert entry["totals"] == {
        "flops": None,
        "macs": None,
        "params": everything,
        "nonzero_params": nonzero,
        "sparse_flops": None,
        "param_bytes": PARAM_BYTES,
        "bytes_moved": None,  # nothing ran
        "latency_ns": None,
    }
    assert entry["prefixes"] == [
        {"prefix": "a", "tensors": 2, "params": 220, "nonzero_params": 210, "param_bytes": 880},
        {"prefix": "b", "tensors": 2, "params": 105, "nonzero_params": 105, "param_bytes": 420},
        {"prefix": "bn", "tensors": 5, "params": 21, "nonzero_params": 10, "param_bytes": 88},
    ]
    assert sources.STATE_DICT_NOTE in entry["notes"]
    code, out, _ = run(capsys, path)
    assert code == 0
    assert "FLOPs need the model that runs them; pass --arch package.module:factory" in out
    assert f"totals: params {everything}, nonzero params {nonzero}, param bytes 1388" in out


def test_a_state_dict_with_arch_is_counted_in_the_architecture(capsys, tmp_path):
    model, path = pruned_state(tmp_path)
    entry = run_json(capsys, path, "--arch", SPEC, "--input-shape", "4,10")
    expected = in_memory(model, (4, 10))
    assert expected.nonzero_params == PARAMS - 10 - 5
    assert expected.sparse_flops == FLOPS - 2 * 10 * 4  # the zero row's MACs are skipped
    assert entry["totals"] == totals(expected)
    meta = run_json(capsys, path, "--arch", SPEC, "--input-shape", "4,10", "--meta")
    assert (meta["totals"]["flops"], meta["totals"]["nonzero_params"]) == (FLOPS, None)


def test_a_checkpoint_dict_uses_its_one_state_dict(capsys, tmp_path):
    model = mlp()
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 3, "model_state_dict": model.state_dict()}, path)
    entry = run_json(capsys, path, "--arch", SPEC, "--input-shape", "4,10")
    assert entry["totals"]["flops"] == FLOPS
    assert "the state_dict is the checkpoint's 'model_state_dict' entry" in entry["notes"]


# --- --print-budget --------------------------------------------------------------------------


def test_print_budget_writes_a_block_the_plugin_accepts_and_the_model_meets(capsys):
    node = "tests/test_models.py::test_mlp"
    code, out, err = run(capsys, SPEC, "--input-shape", "4,10", "--print-budget", "--test-id", node)
    assert code == 0, err
    table = tomllib.loads(out)["tool"]["flopbudget"]["tests"][node]
    assert table == {"max_kflops": 2.66, "max_params": 335, "max_param_bytes": 1390}
    limits = parse_limits(table, "printed block")
    measured = {"flops": FLOPS, "params": PARAMS, "param_bytes": PARAM_BYTES}
    assert {q: limit.value for q, limit in limits.items()} == {
        q: round_up(v) for q, v in measured.items()
    }
    assert check(measured, cli_budget(limits)) == []


def cli_budget(limits):
    from pytest_flopbudget.budgets.check import Budget

    return Budget(limits=limits)


def test_print_budget_without_test_id_says_what_to_rename(capsys):
    code, out, _ = run(capsys, SPEC, "--input-shape", "4,10", "--print-budget")
    assert code == 0
    assert out.startswith("# the node id of the test that runs this model (--test-id sets it)\n")
    assert '[tool.flopbudget.tests."tests/test_models.py::test_mlp"]' in out.splitlines()


# --- bad input: one line, exit status 2 ------------------------------------------------------


def test_a_missing_file(capsys, tmp_path):
    path = tmp_path / "nope.pt"
    assert bad_input(capsys, path, "--input-shape", "4,10") == (
        f"{path}: no such file (and not an import spec package.module:attr)"
    )


def test_a_truncated_archive(capsys, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(mlp().state_dict(), path)
    path.write_bytes(path.read_bytes()[:300])
    assert bad_input(capsys, path).startswith(f"{path}: corrupt archive (a damaged or truncated")


def test_a_file_that_is_no_pytorch_file(capsys, tmp_path):
    path = tmp_path / "model.pt"
    path.write_text("hello\n")
    assert bad_input(capsys, path).startswith(f"{path}: not a PyTorch file")


def test_a_shape_that_does_not_fit_the_model(capsys):
    assert bad_input(capsys, SPEC, "--input-shape", "4,9") == (
        f"{SPEC}: running MLP on inputs (4, 9) float32 raised RuntimeError: "
        "mat1 and mat2 shapes cannot be multiplied (4x9 and 10x20)"
    )


def test_a_shape_that_does_not_fit_a_torchscript_model_keeps_the_models_message(capsys, tmp_path):
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(mlp()), str(path))
    message = bad_input(capsys, path, "--input-shape", "4,9")
    assert message.endswith("mat1 and mat2 shapes cannot be multiplied (4x9 and 10x20)")


def test_a_shape_that_does_not_fit_an_exported_program(capsys, tmp_path):
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(mlp().eval(), (torch.randn(4, 10),)), str(path))
    message = bad_input(capsys, path, "--input-shape", "3,10")
    assert message.startswith(f"{path}: running MLP on inputs (3, 10) float32 raised")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "no_such_package.models:build",
            "MODEL 'no_such_package.models:build': cannot import 'no_such_package.models': "
            "no module named 'no_such_package'",
        ),
        (f"{__name__}:nope", f"MODEL '{__name__}:nope': '{__name__}' has no attribute 'nope'"),
        (
            f"{__name__}:MLP.nope",
            f"MODEL '{__name__}:MLP.nope': '{__name__}:MLP' has no attribute 'nope'",
        ),
        (
            f"{__name__}:not_a_model",
            f"MODEL '{__name__}:not_a_model' returned a int, not a torch.nn.Module",
        ),
        (
            f"{__name__}:broken_factory",
            f"MODEL '{__name__}:broken_factory': calling it raised ValueError: no weights here",
        ),
        (
            f"{__name__}:SPEC",
            f"MODEL '{__name__}:SPEC' is a str, neither an nn.Module nor a factory",
        ),
    ],
)
def test_an_import_spec_that_does_not_resolve(capsys, spec, message):
    assert bad_input(capsys, spec, "--input-shape", "4,10").startswith(message)


@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["", "--input-shape", "4,10"], "MODEL"),
        ([SPEC, "--arch", ""], "--arch"),
        ([SPEC, "--input-shape", "4,10", "--print-budget", "--test-id", ""], "--test-id"),
    ],
)
def test_an_empty_argument_says_a_variable_is_probably_unset(capsys, argv, what):
    """``flopbudget "$MODEL"`` with MODEL unset: not "is a directory" (an empty path is ".")."""
    message = bad_input(capsys, *argv)
    assert message == f"{what} is empty: an environment variable in it is probably unset"


def test_an_arch_the_state_dict_does_not_fit(capsys, tmp_path):
    path = tmp_path / "state.pt"
    torch.save(mlp().state_dict(), path)
    message = bad_input(capsys, path, "--arch", f"{__name__}:TokenModel", "--input-shape", "2")
    assert message.startswith(f"{path} does not fit --arch {__name__}:TokenModel: RuntimeError:")
    assert 'Missing key(s) in state_dict: "embed.weight"' in message


def test_an_arch_that_is_no_import_spec(capsys, tmp_path):
    path = tmp_path / "state.pt"
    torch.save(mlp().state_dict(), path)
    message = bad_input(capsys, path, "--arch", "models.py", "--input-shape", "4,10")
    assert message == "--arch 'models.py' is not an import spec package.module:attr"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([SPEC], f"{SPEC}: --input-shape is required, once per positional input"),
        (
            [SPEC, "--input-shape", "4,10", "--input-shape", "4", *("--dtype", "int64") * 3],
            "3 --dtype for 2 inputs: give --dtype once (for every input) or once per",
        ),
        ([SPEC, "--arch", SPEC], f"--arch is for a state_dict file; {SPEC} is not one"),
        ([SPEC, "--test-id", "t.py::t"], "--test-id names the test of --print-budget's block"),
    ],
)
def test_options_that_do_not_fit_together(capsys, argv, message):
    assert bad_input(capsys, *argv).startswith(message)


def test_print_budget_of_a_bare_state_dict_asks_for_the_arch(capsys, tmp_path):
    path = tmp_path / "state.pt"
    torch.save(mlp().state_dict(), path)
    assert "pass --arch package.module:factory" in bad_input(capsys, path, "--print-budget")


@pytest.mark.parametrize(
    "argv",
    [
        [SPEC, "--input-shape", "4,a"],
        [SPEC, "--input-shape", "4,10", "--dtype", "float13"],
        [SPEC, "--input-shape", "4,10", "--json", "--print-budget"],
    ],
)
def test_usage_errors_exit_with_status_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "flopbudget: error: argument" in err


def test_a_counter_failure_on_a_model_that_runs_is_an_internal_error(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a formula broke")

    monkeypatch.setattr(pytest_flopbudget.engine.counter, "profile", broken)
    code, out, err = run(capsys, SPEC, "--input-shape", "4,10")
    assert (code, out) == (cli.EXIT_INTERNAL_ERROR, "")
    assert err.splitlines() == [
        "flopbudget: internal error: RuntimeError: the model runs, but counting it failed: "
        "RuntimeError: a formula broke (rerun with --debug for the traceback)"
    ]


def test_debug_shows_the_traceback(capsys):
    code, _, err = run(capsys, SPEC, "--input-shape", "4,9", "--debug")
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("flopbudget: error: ")


# --- the command as installed ----------------------------------------------------------------


def test_python_m_pytest_flopbudget_counts_and_fails_cleanly():
    command = [sys.executable, "-m", "pytest_flopbudget", SPEC, "--input-shape", "4,10", "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["models"]
    assert (entry["totals"]["flops"], entry["totals"]["params"]) == (FLOPS, PARAMS)
    command = [sys.executable, "-m", "pytest_flopbudget", f"{__name__}:nope", "--input-shape", "4"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"flopbudget: error: MODEL '{__name__}:nope': '{__name__}' has no attribute 'nope'"
    ]


def test_the_console_script_is_flopbudget():
    (script,) = entry_points(group="console_scripts", name="flopbudget")
    assert script.value == "pytest_flopbudget.cli:main"


def test_importing_the_command_or_asking_for_help_imports_no_torch():
    code = (
        "import sys, contextlib, io; from pytest_flopbudget import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()): status = cli.main(['--help'])\n"
        "assert status == 0 and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_the_json_entry_matches_the_plugins_report_for_the_same_model(capsys, inner):
    source = inspect.getsource(MLP) + "\n\n" + inspect.getsource(mlp)
    inner.makepyfile(
        test_model="import torch\nfrom torch import nn\n\n\n"
        + source
        + textwrap.dedent(
            """

            def test_mlp(flop_budget):
                flop_budget.profile(mlp().eval(), torch.randn(4, 10))
            """
        )
    )
    result = inner.runpytest("--flop-report=json:report.json")
    result.assert_outcomes(passed=1)
    report = json.loads((inner.path / "report.json").read_text())
    (test,) = report["tests"]
    capsys.readouterr()  # the inner run's output
    entry = run_json(capsys, SPEC, "--input-shape", "4,10")
    assert entry["totals"] == test["totals"]
    assert entry["top_modules"] == test["top_modules"]
    assert entry["uncounted"] == test["uncounted"] == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input-shape", "１,３"], "is not a shape"),  # full-width digits: int() takes them
        (["--input-shape", "4,10", "--depth", "99"], "must be from 0 to 64"),
        (["--input-shape", f"4,{2**41}"], "a size is at most"),
    ],
)
def test_the_commands_numbers_are_ascii_and_bounded(capsys, argv, message):
    code, _out, err = run(capsys, SPEC, *argv)
    assert code == cli.EXIT_BAD_INPUT
    assert message in err and "Traceback" not in err
