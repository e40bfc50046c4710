"""The `flopbudget` command (also `python -m pytest_flopbudget`): count a model from the shell.

    flopbudget MODEL --input-shape 1,3,224,224 [--input-shape ...] [--dtype float32] [--meta]
               [--count all|matmul] [--depth N] [--json | --print-budget] [--strict]
    flopbudget diff BASE.json NEW.json [--fail-on-increase PCT]   (see pytest_flopbudget.diff)
    flopbudget history PATH [TEST]                                  (see cli.history)
    flopbudget --version
    flopbudget calibrate [--name NAME] [--device cpu|cuda]          (see cli.calibrate)

MODEL is an import spec ``package.module:attr``, a TorchScript archive, a ``torch.export``
program, a pickled whole module (loaded only with ``--trust-pickle``) or a ``state_dict`` file
(``--arch package.module:factory`` supplies the architecture its FLOPs need); how each is loaded,
and how ``--meta`` applies to it, is in `pytest_flopbudget.sources`. This module is the command
line; the counting and its output are in `count`.

Models are counted in eval mode (``--train`` keeps training mode), on the CPU or, with
``--meta``, on the meta device without compute. Exit status: 0 counted, 2 a usage error or bad
input (one line on stderr, ``--debug`` adds the traceback), 1 an internal error, 3 with
``--strict``: counted (the output is printed), but some ops have no cost formula (one line on
stderr names them).

torch is imported only when a model is counted, so ``--help`` and importing this module are cheap.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from pytest_flopbudget.budgets.values import BudgetError, parse_depth
from pytest_flopbudget.budgets.verdict import strict_message
from pytest_flopbudget.cli.count import DTYPES, PROFILE_SCHEMA, PROFILE_SCHEMA_VERSION, run
from pytest_flopbudget.cli.sources import BadInput, one_line
from pytest_flopbudget.engine.registry import ExtensionError

# how to teach the command an op (a `text.teach_hint` template): it reads no conftest.py
CLI_HINT = (
    'with @pytest_flopbudget.register_formula("{op}") where the model is defined, or with '
    "pytest_flopbudget_formulas() in an installed package (entry point group pytest_flopbudget)"
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL_ERROR",
    "EXIT_OK",
    "EXIT_UNCOUNTED",
    "PROFILE_SCHEMA",
    "PROFILE_SCHEMA_VERSION",
    "BadInput",
    "main",
    "version",
]

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2  # also argparse's status for a usage error
EXIT_UNCOUNTED = 3  # --strict: counted, but some ops have no cost formula


# --- the command line ------------------------------------------------------------------------


MAX_SIZE = 2**40  # one dimension of an input; larger is a typo, not a model


def _shape(text: str) -> tuple[int, ...]:
    """``1,3,224,224``: ASCII digits only (int() would take "１２"), each size at most 2**40."""
    parts = text.split(",")
    if not text.isascii() or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shape: write comma-separated sizes, e.g. 1,3,224,224"
        )
    sizes = tuple(int(part) for part in parts)
    if any(size > MAX_SIZE for size in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: a size is at most {MAX_SIZE}")
    return sizes


def _positive(text: str) -> int:
    try:
        return parse_depth(text, "--depth", "the command line")
    except BudgetError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def version() -> str:
    """The installed distribution's version, the one pytest's header and the JSON report show
    (the package's own ``__version__`` where it runs uninstalled, from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("pytest-flopbudget")
    except PackageNotFoundError:
        from pytest_flopbudget import __version__

        return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flopbudget",
        description="Count the FLOPs, MACs, parameters and parameter bytes of a PyTorch model.",
        epilog=(
            "MODEL: package.module:attr (an nn.Module, or a factory called with no arguments), "
            "a TorchScript archive (torch.jit.save), a torch.export program (.pt2), a pickled "
            "module (torch.save(model), needs --trust-pickle) or a state_dict file. "
            "Exit status: 0 counted, 2 usage error or bad input, 1 internal error, "
            "3 (with --strict) counted but some ops have no cost formula. "
            "To compare two JSON reports: flopbudget diff BASE.json NEW.json "
            "[--fail-on-increase PCT]. To print the trend of a --flop-history file: "
            "flopbudget history PATH [TEST]. To measure this machine for latency estimates: "
            "flopbudget calibrate [--name NAME]."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"flopbudget {version()}", help="print the version"
    )
    parser.add_argument("model", metavar="MODEL", help="what to count (see below)")
    parser.add_argument(
        "--input-shape",
        action="append",
        type=_shape,
        default=[],
        metavar="N,C,...",
        help="the shape of one positional input; repeat for each input "
        "(a torch.export program defaults to its example inputs)",
    )
    parser.add_argument(
        "--dtype",
        action="append",
        choices=sorted(DTYPES),
        default=[],
        metavar="DTYPE",
        help="input dtype: once for every input or once per --input-shape (default float32; "
        "integer inputs such as token ids, e.g. int64, are zeros)",
    )
    parser.add_argument(
        "--meta",
        action="store_true",
        help="build or load the model on the meta device and count without compute "
        "(nonzero counts are then unknown)",
    )
    parser.add_argument(
        "--count",
        choices=("all", "matmul"),
        default="all",
        help="the FLOP convention (default all)",
    )
    parser.add_argument(
        "--depth", type=_positive, default=3, metavar="N", help="levels of the tree (default 3)"
    )
    parser.add_argument(
        "--train", action="store_true", help="count in training mode (default: eval mode)"
    )
    parser.add_argument(
        "--arch",
        metavar="package.module:factory",
        help="for a state_dict file: the model to load it into and count",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="the file is trusted: allow what runs code from it, which is refused by default: "
        "unpickling a pickled whole module, checkpoint or torch.export entry (pickled sample "
        "inputs, weights, constants), loading AOTInductor code in a .pt2, and TorchScript or "
        "exported graphs that read or write files (aten::save, aten::from_file); see the "
        "README's Security section",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json", action="store_true", help=f'print a JSON document ("schema": "{PROFILE_SCHEMA}")'
    )
    output.add_argument(
        "--print-budget",
        action="store_true",
        help='print a [tool.flopbudget.tests."..."] block with the measured values rounded '
        "up, to paste into pyproject.toml",
    )
    parser.add_argument(
        "--test-id",
        metavar="NODEID",
        help="the test node id that --print-budget's block is for",
    )
    parser.add_argument(
        "--hardware",
        metavar="NAME",
        help="add the latency estimate on the device NAME (built-in: h100, a100, l4, t4, "
        "rtx4090, jetson-agx-orin, rpi5; or a [tool.flopbudget.hardware.NAME] table of the "
        "pyproject.toml in the current directory), in total and per module",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 3 when some ops have no cost formula (the FLOPs are then a lower "
        "bound); the output is printed all the same",
    )
    parser.add_argument(
        "--html",
        metavar="PATH",
        help="also write the HTML report of the model to PATH: one self-contained page with "
        "its module tree as an icicle (as --flop-report=html:PATH draws each test)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 counted, 2 bad input, 1 internal error,
    3 uncounted ops under --strict)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["diff"]:  # a MODEL file named diff is given as ./diff
        from pytest_flopbudget.cli.diff import main as diff_main

        return diff_main(arguments[1:])
    if arguments[:1] == ["history"]:  # likewise a MODEL file named history: ./history
        from pytest_flopbudget.cli.history import main as history_main

        return history_main(arguments[1:])
    if arguments[:1] == ["calibrate"]:  # likewise a MODEL file named calibrate: ./calibrate
        from pytest_flopbudget.cli.calibrate import main as calibrate_main

        return calibrate_main(arguments[1:])
    parser = _parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:  # --help (0) or a usage error (2): argparse already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    try:
        text, uncounted = run(args)
        print(text)
    except (BadInput, ExtensionError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"flopbudget: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        print(
            f"flopbudget: internal error: {one_line(error)} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
    if args.strict and uncounted:
        print(f"flopbudget: {strict_message(uncounted, CLI_HINT)}", file=sys.stderr)
        return EXIT_UNCOUNTED
    return EXIT_OK
