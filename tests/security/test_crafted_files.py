"""No code from an untrusted file runs without --trust-pickle (pytest_flopbudget.safety).

Every crafted file is made here, inside the test, from a genuine one: its payload is a pickle
whose ``__reduce__`` opens a marker file for writing (the stand-in for ``os.system``). Each file
goes through the command and through the Python API that loads files (`sources.load`); the
marker must never appear, and the refusal is one line naming the entry and --trust-pickle.
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from pytest_flopbudget import cli
from pytest_flopbudget.cli import safety, sources

pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning",
    "ignore::UserWarning",
)


class Payload:
    """Unpickling it creates `marker`: code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.register_buffer("offset", torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.offset


class WritesAFile(nn.Module):
    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.ops.aten.save(x, self.target)
        return x * 2


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PAYLOAD-RAN"


def genuine_pt2(tmp_path: Path) -> Path:
    path = tmp_path / "genuine.pt2"
    torch.export.save(torch.export.export(Model().eval(), (torch.randn(2, 4),)), str(path))
    return path


def rewritten(
    src: Path,
    dst: Path,
    replace: dict[str, bytes],
    rename: dict[str, str] | None = None,
    extra: dict[str, bytes] | None = None,
    compression: int | None = None,
) -> Path:
    """A copy of archive `src` with entries (named without the archive's root folder) replaced,
    renamed or added."""
    rename = rename or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        root = zin.namelist()[0].split("/", 1)[0]
        for info in zin.infolist():
            relative = info.filename.split("/", 1)[1]
            data = replace.get(relative, zin.read(info.filename))
            info.filename = f"{root}/{rename.get(relative, relative)}"
            if compression is not None:
                info.compress_type = compression
            zout.writestr(info, data)
        for relative, data in (extra or {}).items():
            zout.writestr(f"{root}/{relative}", data)
    return dst


def read_entry(archive: Path, relative: str) -> bytes:
    with zipfile.ZipFile(archive) as z:
        (name,) = [n for n in z.namelist() if n.split("/", 1)[1] == relative]
        return z.read(name)


def weights_config(archive: Path) -> dict:
    return json.loads(read_entry(archive, "data/weights/model_weights_config.json"))


def saved(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


# --- the crafted files -----------------------------------------------------------------------


def pt2_with_pickled_sample_inputs(tmp_path: Path, marker: Path) -> Path:
    src = genuine_pt2(tmp_path)
    payload = {"data/sample_inputs/model.pt": pickle.dumps(Payload(marker))}
    return rewritten(src, tmp_path / "inputs.pt2", payload)


def pt2_with_a_use_pickle_weight(tmp_path: Path, marker: Path) -> Path:
    src = genuine_pt2(tmp_path)
    config = weights_config(src)
    entry = config["config"]["linear.weight"]
    entry["use_pickle"] = True
    replace = {
        "data/weights/model_weights_config.json": json.dumps(config).encode(),
        f"data/weights/{entry['path_name']}": pickle.dumps(Payload(marker)),
    }
    return rewritten(src, tmp_path / "weight.pt2", replace)


def pt2_with_a_pickle_under_another_name(tmp_path: Path, marker: Path) -> Path:
    """The model renamed (models/evil.json): torch loads every model it finds, so the pickled
    sample inputs hide under data/sample_inputs/evil.pt, where a check of 'model' never looks."""
    src = genuine_pt2(tmp_path)
    renames = {
        "models/model.json": "models/evil.json",
        "data/sample_inputs/model.pt": "data/sample_inputs/evil.pt",
        "data/weights/model_weights_config.json": "data/weights/evil_weights_config.json",
        "data/constants/model_constants_config.json": "data/constants/evil_constants_config.json",
    }
    payload = {"data/sample_inputs/model.pt": pickle.dumps(Payload(marker))}
    return rewritten(src, tmp_path / "renamed.pt2", payload, rename=renames)


def pt2_with_a_nested_archive(tmp_path: Path, marker: Path) -> Path:
    """The sample inputs are a torch.save zip inside the zip, whose data.pkl runs the payload."""
    src = genuine_pt2(tmp_path)
    payload = {"data/sample_inputs/model.pt": saved(((Payload(marker),), {}))}
    return rewritten(src, tmp_path / "nested.pt2", payload)


def pt2_with_duplicate_entries(tmp_path: Path, marker: Path) -> Path:
    """Two entries of one name: the genuine one first, the payload second."""
    src = genuine_pt2(tmp_path)
    extra = {"data/sample_inputs/model.pt": pickle.dumps(Payload(marker))}
    with pytest.warns(UserWarning, match="Duplicate name"):
        return rewritten(src, tmp_path / "duplicate.pt2", {}, extra=extra)


def pt2_compressed(tmp_path: Path, marker: Path) -> Path:
    """Deflated entries (torch.export.save stores them): the payload under odd compression."""
    src = genuine_pt2(tmp_path)
    payload = {"data/sample_inputs/model.pt": pickle.dumps(Payload(marker))}
    return rewritten(src, tmp_path / "deflated.pt2", payload, compression=zipfile.ZIP_DEFLATED)


def pt2_with_an_opaque_constant(tmp_path: Path, marker: Path) -> Path:
    """A constant torch reads with pickle.loads (an "opaque object")."""
    src = genuine_pt2(tmp_path)
    obj = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
    config = {"config": {"obj": obj}}
    replace = {"data/constants/model_constants_config.json": json.dumps(config).encode()}
    extra = {"data/constants/opaque_obj_0": pickle.dumps(Payload(marker))}
    return rewritten(src, tmp_path / "opaque.pt2", replace, extra=extra)


def pt2_with_aoti_code(tmp_path: Path, marker: Path) -> Path:
    src = genuine_pt2(tmp_path)
    extra = {"data/aotinductor/model/model.so": b"\x7fELF not really"}
    return rewritten(src, tmp_path / "aoti.pt2", {}, extra=extra)


def checkpoint_with_an_object(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": Model().state_dict(), "config": Payload(marker)}, path)
    return path


def plain_pickle(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def torchscript_with_a_crafted_pickle(tmp_path: Path, marker: Path) -> Path:
    src = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(Model()), str(src))
    payload = {"data.pkl": pickle.dumps(Payload(marker), protocol=2)}
    return rewritten(src, tmp_path / "scripted-evil.pt", payload)


def torchscript_that_writes_a_file(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "writes.pt"
    torch.jit.save(torch.jit.script(WritesAFile(str(marker))), str(path))
    return path


CRAFTED = {
    "pt2 pickled sample inputs": (pt2_with_pickled_sample_inputs, "data/sample_inputs/model.pt"),
    "pt2 use_pickle weight": (pt2_with_a_use_pickle_weight, "data/weights/weight_0"),
    "pt2 pickle under another name": (pt2_with_a_pickle_under_another_name, "evil.pt"),
    "pt2 nested archive": (pt2_with_a_nested_archive, "data/sample_inputs/model.pt"),
    "pt2 duplicate entries": (pt2_with_duplicate_entries, "two entries named"),
    "pt2 deflated entries": (pt2_compressed, "data/sample_inputs/model.pt"),
    "pt2 opaque object constant": (pt2_with_an_opaque_constant, "opaque_obj_0"),
    "pt2 AOTInductor code": (pt2_with_aoti_code, "AOTInductor"),
    "checkpoint with an object": (checkpoint_with_an_object, "pickled object"),
    "plain pickle": (plain_pickle, "pickled object"),
    "TorchScript crafted pickle": (torchscript_with_a_crafted_pickle, None),
    "TorchScript that writes a file": (torchscript_that_writes_a_file, "'save'"),
}


def cli_refusal(capsys, path: Path) -> str:
    code = cli.main([str(path), "--input-shape", "2,4"])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_BAD_INPUT, (out, err)
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("flopbudget: error: ")
    return err


def arguments(path: Path, **overrides: object) -> argparse.Namespace:
    values = {"model": str(path), "meta": False, "arch": None, "trust_pickle": False}
    return argparse.Namespace(**{**values, **overrides})


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_file_is_refused_by_the_command_and_its_code_never_runs(
    capsys, tmp_path, marker, case
):
    make, named = CRAFTED[case]
    path = make(tmp_path, marker)
    message = cli_refusal(capsys, path)
    assert not marker.exists()
    assert str(path) in message
    if named is not None:  # TorchScript's own unpickler refuses the crafted pickle in its words
        assert named in message
        assert "--trust-pickle" in message


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_file_is_refused_by_the_python_api(tmp_path, marker, case):
    make, named = CRAFTED[case]
    path = make(tmp_path, marker)
    with pytest.raises(sources.BadInput) as refused:
        sources.load(torch, arguments(path))
    assert not marker.exists()
    assert "\n" not in str(refused.value)
    if named is not None:
        assert named in str(refused.value)


def test_the_installed_command_refuses_a_crafted_pt2(tmp_path, marker):
    """The command as a user runs it, in its own process."""
    path = pt2_with_pickled_sample_inputs(tmp_path, marker)
    done = subprocess.run(
        [sys.executable, "-m", "pytest_flopbudget", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == cli.EXIT_BAD_INPUT, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "data/sample_inputs/model.pt" in line and "--trust-pickle" in line
    assert not marker.exists()


def test_with_trust_pickle_the_file_loads_as_today_and_its_pickle_runs(capsys, tmp_path, marker):
    """--trust-pickle is the user's explicit choice: torch's loader unpickles the file itself."""
    path = pt2_with_pickled_sample_inputs(tmp_path, marker)
    cli.main([str(path), "--input-shape", "2,4", "--trust-pickle"])
    capsys.readouterr()
    assert marker.exists()


def test_with_trust_pickle_a_torchscript_model_may_write_files(capsys, tmp_path, marker):
    path = torchscript_that_writes_a_file(tmp_path, marker)
    assert cli.main([str(path), "--input-shape", "2,4", "--trust-pickle", "--json"]) == 0
    capsys.readouterr()
    assert marker.exists()


def test_genuine_files_still_load_without_trust(capsys, tmp_path):
    """What torch itself writes passes: raw weights, weights-only sample inputs, and a weight
    stored with use_pickle whose pickle is torch's weights-only tensor format."""
    src = genuine_pt2(tmp_path)
    config = weights_config(src)
    entry = config["config"]["linear.weight"]
    entry["use_pickle"] = True
    weight = torch.nn.Parameter(Model().linear.weight.detach().clone())
    replace = {
        "data/weights/model_weights_config.json": json.dumps(config).encode(),
        f"data/weights/{entry['path_name']}": saved(weight),
    }
    tensor_pickled = rewritten(src, tmp_path / "tensor-pickled.pt2", replace)
    for path in (src, tensor_pickled):
        assert cli.main([str(path), "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        (model,) = document["models"]
        assert model["totals"]["macs"] == 2 * 4 * 3
        assert model["totals"]["params"] == 4 * 3 + 3


def test_the_guard_alone_refuses_what_an_inspection_might_miss(tmp_path, marker):
    """refusing_code by itself: torch.load is weights-only even when asked for weights_only=False,
    and the full unpicklers refuse; all are restored afterwards."""
    evil = pickle.dumps(Payload(marker))
    path = pt2_with_pickled_sample_inputs(tmp_path, marker)
    with pytest.raises(safety.Untrusted, match=r"pickle\.loads"):
        with safety.refusing_code(torch, path):
            pickle.loads(evil)
    with pytest.raises(safety.Untrusted, match="not torch's weights-only tensor format"):
        with safety.refusing_code(torch, path):
            torch.load(io.BytesIO(saved(Payload(marker))), weights_only=False)
    with pytest.raises(safety.Untrusted, match="not torch's weights-only tensor format"):
        with safety.refusing_code(torch, path):
            torch.export.load(str(path))
    for make in (pt2_with_an_opaque_constant, pt2_with_aoti_code):
        with pytest.raises(safety.Untrusted, match="called"):
            with safety.refusing_code(torch, path := make(tmp_path, marker)):
                torch.export.load(str(path))
    assert not marker.exists()
    assert pickle.loads(pickle.dumps([1, 2])) == [1, 2]  # restored
    assert pickle.Unpickler is pickle._Unpickler or pickle.Unpickler.__module__ in (
        "_pickle",
        "pickle",
    )


def test_a_refusal_that_the_loader_swallows_is_still_reported(tmp_path, marker):
    def swallowing_loader() -> None:
        try:
            pickle.loads(pickle.dumps(Payload(marker)))
        except Exception:
            pass

    with pytest.raises(safety.Untrusted, match=r"called pickle\.loads"):
        with safety.refusing_code(torch, tmp_path / "x.pt2"):
            swallowing_loader()
    assert not marker.exists()


def test_a_graph_that_calls_a_file_op_is_refused_before_it_runs(tmp_path, marker):
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.call_function(torch.ops.aten.save.default, (x, str(marker)))
    graph.output(x)
    module = torch.fx.GraphModule(nn.Module(), graph)
    with pytest.raises(safety.Untrusted, match="aten::save"):
        safety.check_graph_ops(torch, module, tmp_path / "program.pt2")
    scripted = torch.jit.script(WritesAFile(str(marker)))
    with pytest.raises(safety.Untrusted, match="aten::save"):
        safety.check_graph_ops(torch, scripted, tmp_path / "model.pt")
    assert not marker.exists()


def test_every_compiled_method_of_a_scripted_sequential_is_scanned(tmp_path, marker):
    """A scripted Sequential's ``__len__`` is a Python function on the module, not a scripted
    method: the scan reads every compiled method's graph from TorchScript itself, so it neither
    trips on that function nor misses a file op in a child of the Sequential."""
    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 4), WritesAFile(str(marker))))
    assert "__len__" in scripted._c._method_names()
    assert not hasattr(type(scripted).__len__, "graph")
    with pytest.raises(safety.Untrusted, match="aten::save"):
        safety.check_graph_ops(torch, scripted, tmp_path / "seq.pt")
    safety.check_graph_ops(torch, torch.jit.script(nn.Sequential(nn.Linear(4, 4))), tmp_path)
    assert not marker.exists()


def test_help_says_what_trust_pickle_allows(capsys):
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--trust-pickle" in text
    assert "unpickling" in text and "TorchScript" in text and "files" in text
