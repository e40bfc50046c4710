"""Loading MODEL, what the `flopbudget` command counts, from its source.

MODEL is one of:

- an import spec ``package.module:attr`` (as uvicorn and gunicorn name an app): a module
  instance is used as is, anything else is called with no arguments and must return one. With
  ``--meta`` a factory is called under ``torch.device("meta")``; an instance is already built, so
  a copy of it with its parameters and buffers on the meta device is counted;
- a TorchScript archive (``torch.jit.save``): module hooks do not fire inside TorchScript, so all
  its work is on the root of the tree; the dispatch counter still sees every op, so the totals
  are exact. With ``--meta`` it is loaded onto the meta device (``torch.jit.load``'s
  map_location), or on the CPU where it cannot be;
- a ``torch.export`` program (``torch.export.save``, ``.pt2``): the module tree is recovered with
  ``torch.export.unflatten``, and the program's example inputs are the default inputs.
  ``torch.export.load`` has no map_location: with ``--meta`` the weights are loaded, then moved
  to the meta device where the program allows it (else it is counted on the CPU);
- a pickled whole module (``torch.save(model)``): loaded only with ``--trust-pickle``, because
  unpickling runs code from the file. With ``--meta`` it is loaded with ``map_location="meta"``;
- a ``state_dict`` file: its tensors per name prefix; FLOPs need the architecture, which
  ``--arch package.module:factory`` supplies. With ``--meta`` the tensors are loaded with
  ``map_location="meta"`` (their nonzero counts are then unknown), the architecture is built on
  the meta device and the state is assigned to it.

Without ``--trust-pickle`` no code from a file runs: a TorchScript archive and a ``.pt2`` are
checked before they load and loaded under a guard (`safety`), and ``torch.save`` files are read
with torch's weights-only unpickler.

Where a TorchScript archive or an exported program loaded on the meta device then fails to run
there, the command loads it again on the CPU. A MODEL that matches ``package.module:attr`` and is
no file is an import spec; a file's source is told from its contents, not its name. torch is never
imported here: the caller passes it in.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flopbudget.cli import safety

__all__ = [
    "SOURCES",
    "STATE_DICT_NOTE",
    "TORCHSCRIPT_NOTE",
    "BadInput",
    "Loaded",
    "load",
    "one_line",
]

SOURCES = {
    "import": "import spec",
    "torchscript": "TorchScript archive",
    "export": "torch.export program",
    "pickle": "pickled module",
    "state_dict": "state_dict",
}

TORCHSCRIPT_NOTE = (
    "submodules of a TorchScript model cannot be attributed (module hooks do not fire inside "
    "TorchScript): all its work is on the root; the totals are exact"
)
STATE_DICT_NOTE = (
    "a state_dict holds tensors, not the architecture: FLOPs need the model that runs them; "
    "pass --arch package.module:factory (and --input-shape) to load the state into it and count. "
    "The counts above include buffers (running statistics, counters): a state_dict does not say "
    "which tensors are parameters"
)
_IMPORT_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class BadInput(Exception):
    """A model, file or option the command cannot use; the message is the one line it prints."""


@dataclass
class Loaded:
    """What MODEL turned out to be, ready to count."""

    source: str  # a key of SOURCES
    model: Any = None  # the nn.Module to run; None for a bare state_dict
    state: dict[str, Any] | None = None  # the tensors of a state_dict file
    example_inputs: list[tuple[tuple[int, ...], str]] | None = None  # (shape, dtype name)
    module_types: dict[str, str] = field(default_factory=dict)  # names the tree by (export)
    name: str | None = None  # overrides the counted type's name
    device: str = "cpu"
    attributable: bool = True  # False: module hooks cannot see the submodules' work
    notes: list[str] = field(default_factory=list)


def one_line(error: BaseException) -> str:
    """`Type: message` on one line; a TorchScript interpreter error by its last line (the error
    itself; the lines before are TorchScript's own traceback)."""
    text = str(error).strip()
    if "TorchScript interpreter" in text and text.splitlines():
        return " ".join(text.splitlines()[-1].split())
    text = " ".join(text.split())
    if len(text) > 600:
        text = text[:600] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _ensure_cwd_on_path() -> None:
    """As uvicorn does: `package.module` and pickled classes resolve from the current directory."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _resolve(spec: str, option: str = "MODEL") -> Any:
    if not _IMPORT_SPEC.match(spec):
        raise BadInput(f"{option} {spec!r} is not an import spec package.module:attr")
    module_name, _, attr = spec.partition(":")
    _ensure_cwd_on_path()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise BadInput(
                f"{option} {spec!r}: cannot import {module_name!r}: no module named {missing!r} "
                f"(run from the directory it is importable from)"
            ) from error
        raise BadInput(
            f"{option} {spec!r}: importing {module_name!r} failed: {one_line(error)}"
        ) from error
    except Exception as error:
        raise BadInput(
            f"{option} {spec!r}: importing {module_name!r} raised {one_line(error)}"
        ) from error
    target: Any = module
    for depth, part in enumerate(attr.split(".")):
        try:
            target = getattr(target, part)
        except AttributeError:
            where = (
                module_name if depth == 0 else f"{module_name}:{'.'.join(attr.split('.')[:depth])}"
            )
            raise BadInput(f"{option} {spec!r}: {where!r} has no attribute {part!r}") from None
    return target


def _meta_copy(torch: Any, module: Any) -> Any:
    """A copy of `module` whose parameters and buffers are on the meta device; the original stays
    as it was and its tensors are not copied."""
    memo: dict[int, Any] = {}
    for tensor in (*module.parameters(), *module.buffers()):
        if id(tensor) not in memo:
            meta = torch.empty_like(tensor, device="meta")
            if isinstance(tensor, torch.nn.Parameter):
                meta = torch.nn.Parameter(meta, requires_grad=tensor.requires_grad)
            memo[id(tensor)] = meta
    return copy.deepcopy(module, memo)


def _build(torch: Any, spec: str, meta: bool, option: str, notes: list[str]) -> Any:
    """The nn.Module an import spec names: an instance as is, else the factory's result."""
    target = _resolve(spec, option)
    if isinstance(target, torch.nn.Module):
        if meta:
            notes.append(
                "--meta: the instance is already built; a copy on the meta device is counted"
            )
            return _meta_copy(torch, target)
        return target
    if not callable(target):
        raise BadInput(
            f"{option} {spec!r} is a {type(target).__name__}, neither an nn.Module nor a factory"
        )
    try:
        if meta:
            with torch.device("meta"):
                model = target()
        else:
            model = target()
    except Exception as error:
        raise BadInput(f"{option} {spec!r}: calling it raised {one_line(error)}") from error
    if not isinstance(model, torch.nn.Module):
        raise BadInput(
            f"{option} {spec!r} returned a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def _file_kind(path: Path) -> str:
    """ "torchscript", "export" or "saved" (torch.save), from the file's contents."""
    if not path.exists():
        raise BadInput(f"{path}: no such file (and not an import spec package.module:attr)")
    if path.is_dir():
        raise BadInput(f"{path}: is a directory, not a model file")
    try:
        with path.open("rb") as stream:
            head = stream.read(4)
    except OSError as error:
        raise BadInput(f"{path}: cannot be read ({one_line(error)})") from error
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise BadInput(
                f"{path}: corrupt archive (a damaged or truncated zip file: {error})"
            ) from error
        if any("/code/" in name for name in names) and any(
            name.endswith("constants.pkl") for name in names
        ):
            return "torchscript"
        if any(
            name.endswith(("/archive_format", "serialized_exported_program.json")) for name in names
        ):
            return "export"
        if any(name.endswith("data.pkl") for name in names):
            return "saved"
        raise BadInput(
            f"{path}: a zip archive, but not one written by torch.save, torch.jit.save or "
            "torch.export.save"
        )
    if head[:1] == b"\x80":  # a pickle: torch.save's legacy (non-zip) format
        return "saved"
    raise BadInput(
        f"{path}: not a PyTorch file (torch.save, torch.jit.save and torch.export.save write zip "
        "archives)"
    )


def _quietly(load: Any, *args: Any) -> Any:
    """Call a torch loader without its deprecation chatter (torch.jit.load, export.unflatten)."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning, UserWarning):
            warnings.simplefilter("ignore", category)
        return load(*args)


def _untrusted(torch: Any, path: Path, trusted: bool) -> Any:
    """The guard an untrusted file is loaded under (see `safety`); nothing for a trusted one."""
    return contextlib.nullcontext() if trusted else safety.refusing_code(torch, path)


def _load_torchscript(
    torch: Any, path: Path, meta: bool, trusted: bool, notes: list[str]
) -> Loaded:
    device = "meta" if meta else "cpu"
    if not trusted:
        safety.check_torchscript_archive(torch, path)
    try:
        with _untrusted(torch, path, trusted):
            scripted = _quietly(torch.jit.load, str(path), device)
    except safety.Untrusted:
        raise
    except Exception as error:
        if not meta:
            raise BadInput(
                f"{path}: cannot load the TorchScript archive: {one_line(error)}"
            ) from error
        try:
            with _untrusted(torch, path, trusted):
                scripted = _quietly(torch.jit.load, str(path), "cpu")
        except safety.Untrusted:
            raise
        except Exception as cpu_error:
            raise BadInput(
                f"{path}: cannot load the TorchScript archive: {one_line(cpu_error)}"
            ) from cpu_error
        notes.append(
            f"--meta: this TorchScript archive cannot be loaded on the meta device "
            f"({one_line(error)}); counted on the CPU"
        )
        device = "cpu"
    if not trusted:
        safety.check_graph_ops(torch, scripted, path)
    notes.append(TORCHSCRIPT_NOTE)
    return Loaded(
        "torchscript",
        model=scripted,
        name=getattr(scripted, "original_name", None),
        device=device,
        attributable=False,
        notes=notes,
    )


def _type_name(value: Any) -> str:
    return value.__name__ if isinstance(value, type) else str(value).rsplit(".", 1)[-1]


def _uncalled_type(fqn: str, names: list[str]) -> str:
    """The type shown for a module an exported program never called (a container such as a
    ModuleList): the program lists its name, but records the type only of the modules it called.
    A container is named by its children: indices make a ModuleList, names a ModuleDict."""
    prefix = f"{fqn}." if fqn else ""
    children = [
        name[len(prefix) :]
        for name in names
        if name.startswith(prefix) and name != fqn and "." not in name[len(prefix) :]
    ]
    if not children:
        return "Module"
    return "ModuleList" if all(child.isdigit() for child in children) else "ModuleDict"


def _load_export(torch: Any, path: Path, meta: bool, trusted: bool, notes: list[str]) -> Loaded:
    if not trusted:
        safety.check_export_archive(torch, path)
    try:
        with _untrusted(torch, path, trusted):
            program = _quietly(torch.export.load, str(path))
    except safety.Untrusted:
        raise
    except Exception as error:
        raise BadInput(
            f"{path}: cannot load the torch.export program: {one_line(error)}"
        ) from error
    attributable = True
    try:
        model = _quietly(torch.export.unflatten, program)
    except Exception as error:
        model = program.module()
        attributable = False
        notes.append(
            "the module tree of this exported program could not be recovered "
            f"(torch.export.unflatten: {one_line(error)}): all its work is on the root"
        )
    if not trusted:
        safety.check_graph_ops(torch, program.graph_module, path)
    types: dict[str, str] = {}
    for node in program.graph.nodes:
        for fqn, kind in (node.meta.get("nn_module_stack") or {}).values():
            types.setdefault(fqn, _type_name(kind))
    names = [entry.fqn for entry in program.module_call_graph]
    for fqn in names:
        types.setdefault(fqn, _uncalled_type(fqn, names))
    device = "cpu"
    if meta:
        try:
            model = model.to("meta")
            device = "meta"
            notes.append(
                "--meta: torch.export.load has no map_location: the weights were loaded, then "
                "moved to the meta device"
            )
        except Exception as error:
            notes.append(
                f"--meta: this program cannot be moved to meta ({one_line(error)}); "
                "counted on the CPU"
            )
    notes.append("a torch.export program runs in the mode it was exported in")
    return Loaded(
        "export",
        model=model,
        example_inputs=_example_inputs(program),
        module_types=types,
        name=types.get("", path.stem),
        device=device,
        attributable=attributable,
        notes=notes,
    )


def _example_inputs(program: Any) -> list[tuple[tuple[int, ...], str]] | None:
    """(shape, dtype) of each positional input the program was exported with, when concrete."""
    examples = getattr(program, "example_inputs", None)
    if examples is not None:
        args, kwargs = examples
        tensors = list(args)
        if kwargs:
            return None
    else:
        user_inputs = set(program.graph_signature.user_inputs)
        tensors = [
            node.meta.get("val")
            for node in program.graph.nodes
            if node.op == "placeholder" and node.name in user_inputs
        ]
    found = []
    for tensor in tensors:
        shape = getattr(tensor, "shape", None)
        if shape is None or not all(isinstance(size, int) for size in shape):
            return None
        found.append((tuple(shape), str(tensor.dtype).removeprefix("torch.")))
    return found


def _load_saved(torch: Any, path: Path, args: argparse.Namespace, notes: list[str]) -> Loaded:
    device = "meta" if args.meta else "cpu"
    try:
        value = torch.load(str(path), map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" not in str(error).lower():
            raise BadInput(
                f"{path}: corrupt or not a torch.save file: {one_line(error)}"
            ) from error
        if not args.trust_pickle:
            found = re.search(r"GLOBAL (\S+)", str(error))
            refers = f" (it refers to {found[1]})" if found else ""
            raise BadInput(
                f"{path} is a pickled object{refers}, not only tensors: unpickling it runs code "
                "from the file, so it is not loaded by default. If you trust the file, pass "
                "--trust-pickle; or save model.state_dict() and count it with --arch "
                "package.module:factory"
            ) from error
        _ensure_cwd_on_path()
        try:
            value = torch.load(str(path), map_location=device, weights_only=False)
        except (ImportError, AttributeError) as unpickle_error:
            raise BadInput(
                f"{path}: the pickled module's code cannot be imported here: "
                f"{one_line(unpickle_error)}"
            ) from unpickle_error
        except Exception as unpickle_error:
            raise BadInput(
                f"{path}: cannot be unpickled: {one_line(unpickle_error)}"
            ) from unpickle_error
    except Exception as error:
        raise BadInput(f"{path}: corrupt or not a torch.save file: {one_line(error)}") from error
    if isinstance(value, torch.nn.Module):
        return Loaded("pickle", model=value, device=device, notes=notes)
    state = _state_of(torch, value, notes)
    if state is None:
        raise BadInput(
            f"{path} holds a {type(value).__name__}, neither an nn.Module nor a state_dict "
            "(a mapping of names to tensors)"
        )
    loaded = Loaded("state_dict", state=state, device=device, notes=notes)
    if args.arch:
        model = _build(torch, args.arch, args.meta, "--arch", notes)
        try:
            model.load_state_dict(state, strict=True, assign=args.meta)
        except Exception as error:
            raise BadInput(f"{path} does not fit --arch {args.arch}: {one_line(error)}") from error
        loaded.model = model
    return loaded


def _state_of(torch: Any, value: Any, notes: list[str]) -> dict[str, Any] | None:
    """The tensors of a state_dict, or of the one state_dict inside a checkpoint dict."""
    if not isinstance(value, Mapping):
        return None
    tensors = {k: v for k, v in value.items() if isinstance(v, torch.Tensor) and isinstance(k, str)}
    if tensors:
        if len(tensors) < len(value):
            notes.append(f"{len(value) - len(tensors)} entries that are not tensors are left out")
        return tensors
    nested = [(k, v) for k, v in value.items() if _state_of(torch, v, []) is not None]
    if len(nested) == 1:
        key, inner = nested[0]
        notes.append(f"the state_dict is the checkpoint's {key!r} entry")
        return _state_of(torch, inner, notes)
    return None


def load(torch: Any, args: argparse.Namespace) -> Loaded:
    """Build or load what MODEL names."""
    notes: list[str] = []
    path = Path(args.model)
    if _IMPORT_SPEC.match(args.model) and not path.exists():
        kind = "import"
    else:
        kind = _file_kind(path)
    if args.arch and kind != "saved":
        raise BadInput(f"--arch is for a state_dict file; {args.model} is not one")
    if kind == "import":
        model = _build(torch, args.model, args.meta, "MODEL", notes)
        return Loaded("import", model=model, device="meta" if args.meta else "cpu", notes=notes)
    try:
        if kind == "torchscript":
            return _load_torchscript(torch, path, args.meta, args.trust_pickle, notes)
        if kind == "export":
            return _load_export(torch, path, args.meta, args.trust_pickle, notes)
    except safety.Untrusted as error:
        raise BadInput(str(error)) from error
    loaded = _load_saved(torch, path, args, notes)
    if args.arch is None and loaded.source == "state_dict":
        notes.append(STATE_DICT_NOTE)
    return loaded
