"""No code from an untrusted file runs: what the `flopbudget` command checks before and while it
loads a model file that the user did not pass ``--trust-pickle`` for.

A PyTorch file can carry code in three ways, and each is closed here:

- **pickles.** Unpickling calls whatever the pickle names (``os.system`` included).
  ``torch.export.load`` unpickles parts of a ``.pt2`` on its own: the sample inputs (with a
  fallback to a full unpickler when torch's weights-only one refuses them), weights and constants
  whose config says ``"use_pickle": true``, legacy weight and constant files, and torchbind and
  opaque object constants. `check_export_archive` reads the archive with torch's own zip reader
  (so zip tricks cannot make it see other entries than the loader does) and refuses it unless
  every entry the loader would unpickle, and every other entry that is a pickle or a nested
  archive, loads with torch's weights-only unpickler. `refusing_code` then guards the load
  itself: torch's own safe mode (``TORCH_FORCE_WEIGHTS_ONLY_LOAD``) makes every ``torch.load``
  weights-only, and the full unpicklers (``pickle.load``, ``pickle.loads``, ``pickle.Unpickler``,
  torchbind's ``_pickle_load_obj``) refuse to run, so an entry the inspection did not foresee
  (another torch version's layout) is refused too, before any of its code runs.
- **compiled code.** A ``.pt2`` holding AOTInductor artifacts makes ``torch.export.load`` load
  their shared library, native code from the file: refused.
- **graphs that touch files.** A TorchScript archive's code and an exported program's graph run
  when the model is counted (a TorchScript class's ``__setstate__`` even runs while it loads).
  Neither can call Python, but both can call any torch op, and two ops touch the file system:
  ``aten::save`` writes a file, ``aten::from_file`` reads or maps one. A TorchScript archive whose
  code names either is refused before it loads (`check_torchscript_archive`); a loaded TorchScript
  module or exported program whose graph calls either is refused before it runs
  (`check_graph_ops`). TorchScript's own pickles (``data.pkl``, ``constants.pkl``) are read by
  its C++ unpickler, which resolves only torch's types and the archive's TorchScript classes and
  cannot call Python.

Every refusal is an `Untrusted` error whose message is one line naming the file, the entry or
op, and ``--trust-pickle``. torch is never imported here: the caller passes it in.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "FILE_OPS",
    "Untrusted",
    "check_export_archive",
    "check_graph_ops",
    "check_torchscript_archive",
    "refusing_code",
]

# The torch ops that touch the file system: a graph from an untrusted file may not call them.
FILE_OPS = frozenset({"aten::save", "aten::from_file"})
_FILE_OP_NAMES = re.compile(r"\b(save|from_file)\b")
_TRUST = "If you trust the file, pass --trust-pickle"


class Untrusted(Exception):
    """A file would run code of its own; the message is one line naming what and where."""


def _is_pickle(data: bytes) -> bool:
    """Whether `data` is a pickle (any protocol) that runs to its STOP opcode."""
    if not data:
        return False
    try:
        for opcode, _, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "STOP":
                return True
    except Exception:
        return False
    return False


def _globals(data: bytes) -> list[str]:
    """The callables and classes a pickle names (GLOBAL, STACK_GLOBAL), as module.name."""
    names, strings = [], []
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "GLOBAL":
                names.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:
        pass
    return names


def _weights_only(torch: Any, data: bytes) -> str | None:
    """None when torch's weights-only unpickler loads `data`; else why not, in a few words."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), map_location="meta", weights_only=True)
    except Exception as error:
        named = [name for name in _globals(data) if not name.startswith(("torch.", "collections."))]
        if named:
            return f"it calls {', '.join(dict.fromkeys(named))}"
        return f"torch's weights-only unpickler refuses it: {type(error).__name__}"
    return None


def _refuse_pickled(path: Path, entry: str, role: str | None, why: str) -> Untrusted:
    what = f"entry {entry!r} ({role})" if role else f"entry {entry!r}"
    return Untrusted(
        f"{path}: {what} is a pickle, not torch's weights-only tensor format ({why}): "
        f"unpickling it runs code from the file, so the file is not loaded. {_TRUST}"
    )


def _duplicate_names(path: Path) -> None:
    """A zip with two entries of one name is a trick: two readers may each pick another one."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch's reader has the last word on whether it is an archive at all
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Untrusted(
                f"{path}: the archive holds two entries named {name!r} (a zip trick: readers "
                f"disagree on which one is read), so it is not loaded. {_TRUST}"
            )
        seen.add(name)


def _records(torch: Any, path: Path) -> dict[str, Any] | None:
    """{entry name: a reader of its bytes} as torch's own zip reader sees the archive, or None
    when that reader cannot open it."""
    try:
        reader = torch._C.PyTorchFileReader(str(path))
        names = reader.get_all_records()
    except Exception:
        return None
    return {name: (lambda name=name: reader.get_record(name)) for name in names}


def _legacy_records(path: Path) -> dict[str, Any]:
    """The entries of a torch 2.7-era export zip, which torch.export.load reads with zipfile."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return {}
    if "version" not in archive.namelist():
        return {}
    return {name: (lambda name=name: archive.read(name)) for name in archive.namelist()}


def _json(records: dict[str, Any], name: str) -> Any:
    try:
        return json.loads(records[name]())
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


def _payload_configs(records: dict[str, Any], model: str) -> Iterator[tuple[str, str, Any]]:
    """(directory, kind, payload entry) of every weight and constant a model's configs list."""
    for directory, kind in (("data/weights/", "weights"), ("data/constants/", "constants")):
        config = _json(records, f"{directory}{model}_{kind}_config.json")
        entries = config.get("config") if isinstance(config, dict) else None
        for payload in (entries or {}).values():
            if isinstance(payload, dict):
                yield directory, kind, payload


def check_export_archive(torch: Any, path: Path) -> None:
    """Raise `Untrusted` unless every entry of a ``.pt2`` that torch.export.load may unpickle or
    load as code is plain tensor data."""
    _duplicate_names(path)
    records = _records(torch, path) or {}
    for name in records:
        if name.startswith("data/aotinductor/"):
            raise Untrusted(
                f"{path}: entry {name!r} is AOTInductor compiled code: torch.export.load would "
                f"load and run its shared library, so the file is not loaded. {_TRUST}"
            )
    must_load: dict[str, str] = {}  # entry -> what the loader does with it
    raw: set[str] = set()  # entries the loader reads as raw tensor bytes
    models = [
        n[len("models/") : -len(".json")] for n in records if re.match(r"models/.+\.json$", n)
    ]
    for model in models:
        must_load[f"data/sample_inputs/{model}.pt"] = "sample inputs"
        must_load[f"data/weights/{model}.pt"] = "legacy weights"
        must_load[f"data/constants/{model}.pt"] = "legacy constants"
        for directory, kind, payload in _payload_configs(records, model):
            entry = f"{directory}{payload.get('path_name')}"
            name = str(payload.get("path_name"))
            if name.startswith(("custom_obj_", "opaque_obj_")):
                raise Untrusted(
                    f"{path}: entry {entry!r} is a pickled object constant (torchbind or opaque "
                    f"object), which torch.export.load unpickles, so the file is not loaded. "
                    f"{_TRUST}"
                )
            if payload.get("use_pickle") is False:
                raw.add(entry)
            else:
                must_load[entry] = f"pickled {kind}"
    for name, read in {**_legacy_records(path), **records}.items():
        if name in raw:
            continue
        data = read()
        if name not in must_load and not (_is_pickle(data) or data.startswith(b"PK\x03\x04")):
            continue
        if not data:
            continue
        why = _weights_only(torch, data)
        if why is not None:
            raise _refuse_pickled(path, name, must_load.get(name), why)


def check_torchscript_archive(torch: Any, path: Path) -> None:
    """Raise `Untrusted` when a TorchScript archive's code names an op that touches files: its
    code runs while it loads (``__setstate__``) and while it is counted."""
    _duplicate_names(path)
    for name, read in (_records(torch, path) or {}).items():
        if not (name.startswith("code/") and name.endswith(".py")):
            continue
        found = _FILE_OP_NAMES.search(read().decode("utf-8", "replace"))
        if found:
            raise Untrusted(
                f"{path}: the TorchScript code in {name!r} calls {found[1]!r}, a torch op that "
                f"reads or writes files, and would run while the model loads or is counted, so "
                f"the file is not loaded. {_TRUST}"
            )


def _graph_op_names(torch: Any, model: Any) -> Iterator[str]:
    """The names (`aten::save`) of the ops a TorchScript module's or exported graph calls."""
    if isinstance(model, torch.jit.ScriptModule):
        for module in model.modules():
            # each compiled method, read from the C++ module: the Python attribute of that name
            # may be a plain function with no graph (a scripted Sequential's ``__len__``)
            compiled = getattr(module, "_c", module)
            for method in compiled._method_names():
                blocks = [compiled._get_method(method).graph]
                while blocks:
                    for node in blocks.pop().nodes():
                        yield node.kind()
                        blocks.extend(node.blocks())
        return
    for graph_module in model.modules():
        graph = getattr(graph_module, "graph", None)
        for node in getattr(graph, "nodes", ()):
            schema = getattr(node.target, "_schema", None)
            if schema is not None:
                yield schema.name


def check_graph_ops(torch: Any, model: Any, path: Path) -> None:
    """Raise `Untrusted` when a loaded model's graph calls an op that touches files."""
    for name in _graph_op_names(torch, model):
        if name in FILE_OPS:
            raise Untrusted(
                f"{path}: the model's graph calls {name}, a torch op that reads or writes files, "
                f"so it is not run. {_TRUST}"
            )


def _refusing(what: str, tripped: list[str], kind: str) -> Any:
    """A stand-in for a full unpickler or a code loader (a function, or a class that torch may
    subclass, instantiate or call a static method of) that records the attempt and raises."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        tripped.append(what)
        raise Untrusted(f"{what} was called while loading an untrusted file")

    if kind == "function":
        return refuse

    class Refusing(type):
        def __getattr__(cls, name: str) -> Any:
            return refuse()

    return Refusing(what, (), {"__init__": lambda self, *a, **k: refuse()})


def _tripped(path: Path, tripped: list[str]) -> Untrusted:
    return Untrusted(
        f"{path}: loading it called {tripped[0]}, which would run code from the file, so it is "
        f"not loaded. {_TRUST}"
    )


_FULL_UNPICKLERS = (
    ("load", "pickle.load", "function"),
    ("loads", "pickle.loads", "function"),
    ("Unpickler", "pickle.Unpickler", "class"),
)
_FORCE, _FORCE_NO = "TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


@contextlib.contextmanager
def refusing_code(torch: Any, path: Path) -> Iterator[None]:
    """Within the block, every ``torch.load`` is weights-only (torch's own switch) and the full
    unpicklers and AOTInductor's loader refuse to run. Raises `Untrusted` when the block tried
    one of them, even where the loader caught the refusal and went on."""
    tripped: list[str] = []
    targets = [(pickle, attr, what, kind) for attr, what, kind in _FULL_UNPICKLERS]
    targets.append((torch._C, "_pickle_load_obj", "torch._C._pickle_load_obj", "function"))
    aoti = getattr(torch._C, "_aoti", None)
    if aoti is not None and hasattr(aoti, "AOTIModelPackageLoader"):
        targets.append((aoti, "AOTIModelPackageLoader", "AOTInductor's package loader", "class"))
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _, _ in targets]
    environment = {key: os.environ.get(key) for key in (_FORCE, _FORCE_NO)}
    os.environ[_FORCE] = "1"
    os.environ.pop(_FORCE_NO, None)
    for owner, attr, what, kind in targets:
        setattr(owner, attr, _refusing(what, tripped, kind))
    try:
        yield
    except pickle.UnpicklingError as error:  # torch's loader, made weights-only, met a pickle
        if tripped:
            raise _tripped(path, tripped) from None
        raise Untrusted(
            f"{path}: torch's loader met a pickle that is not torch's weights-only tensor format "
            f"({type(error).__name__}): unpickling it runs code from the file, so it is not "
            f"loaded. {_TRUST}"
        ) from None
    except BaseException:
        if tripped:
            raise _tripped(path, tripped) from None
        raise
    finally:
        for owner, attr, original in originals:
            setattr(owner, attr, original)
        for key, value in environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if tripped:
        raise _tripped(path, tripped)
