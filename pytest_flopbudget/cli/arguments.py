"""The subcommands' argument parsing (`flopbudget diff`, `history`, `calibrate`): a bad argument
is one line naming it, not argparse's usage block and exit status 2 of its own."""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["BadArguments", "Parser"]


class BadArguments(Exception):
    """A bad argument or input of a subcommand; its message is the one line to print."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not the usage block
        raise BadArguments(message)
