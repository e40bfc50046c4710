"""Phases: named regions of counted work (``prefill``, ``decode``; ``forward``, ``optimizer``),
each entered one or more times. No torch: a PhaseStats is plain data that reports can carry.

`phase(name)` tells every counter active at the time (and every counter that starts while it is
open, on this thread) that a new *entry* of `name` begins; the counter adds each op it counts to
every phase entry open then. Nested phases of different names both hold the inner work (as a
module's row holds its children's); entering a phase already open on this thread adds no entry:
its work is in the open one, once. Outside any counting, `phase` does nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["PhaseStats", "Totals", "phase", "phase_stats"]


@dataclass(frozen=True)
class Totals:
    """What one phase entry cost (or the mean, the largest, the last of them): FLOPs under the
    count's convention, MACs, bytes moved ("unfused"), and the forward part of the FLOPs. In a
    mean the fields are floats."""

    flops: int | float
    macs: int | float
    bytes_moved: int | float
    forward_flops: int | float


QUANTITIES = ("flops", "macs", "bytes_moved", "forward_flops")


@dataclass(frozen=True)
class PhaseStats:
    """One phase: how many times it was entered and, summed over its entries, what it cost;
    `per_entry` holds each entry's Totals in the order they were entered."""

    name: str
    entries: int
    flops: int
    macs: int
    bytes_moved: int
    forward_flops: int
    per_entry: tuple[Totals, ...]

    @property
    def mean(self) -> Totals:
        """The mean per entry (floats)."""
        n = max(self.entries, 1)
        return Totals(*(getattr(self, q) / n for q in QUANTITIES))

    @property
    def max(self) -> Totals:
        """The largest entry, per quantity (the FLOPs of the costliest entry, the bytes of the
        one that moved the most, which may be another entry)."""
        return Totals(
            *(max((getattr(e, q) for e in self.per_entry), default=0) for q in QUANTITIES)
        )

    @property
    def last(self) -> Totals:
        """The last entry (in generation: the longest context)."""
        return self.per_entry[-1] if self.per_entry else Totals(0, 0, 0, 0)


def phase_stats(log: Mapping[str, Sequence[Sequence[int]]], flops: Any) -> dict[str, PhaseStats]:
    """The phases of a count: `log` holds, per phase name, each entry's [MACs, other FLOPs,
    bytes moved, forward MACs, forward other FLOPs]; `flops(macs, other)` is the convention."""
    result = {}
    for name, entries in log.items():
        per_entry = tuple(
            Totals(flops(m, o), m, moved, flops(fm, fo)) for m, o, moved, fm, fo in entries
        )
        result[name] = PhaseStats(
            name,
            len(per_entry),
            *(sum(getattr(e, q) for e in per_entry) for q in QUANTITIES),
            per_entry=per_entry,
        )
    return result


# ---- the context manager and the counters it reaches ------------------------------------------


class Sink(Protocol):
    """What a counter offers phases: `enter_phase` starts an entry and returns a token for
    `exit_phase` (None where it starts nothing)."""

    def enter_phase(self, name: str) -> Any: ...

    def exit_phase(self, token: Any) -> None: ...


_ACTIVE: list[Sink] = []  # the counters counting now, on any thread
_LOCAL = threading.local()  # .open: this thread's open phases, outermost first


class _Open:
    """One open `with phase(name)`: the tokens of the counters it reached."""

    def __init__(self, name: str, nested_in_itself: bool) -> None:
        self.name = name
        self.nested_in_itself = nested_in_itself  # adds no entry: its work is in the outer one
        self.tokens: list[tuple[Sink, Any]] = []


def _open_here() -> list[_Open]:
    stack = getattr(_LOCAL, "open", None)
    if stack is None:
        stack = _LOCAL.open = []
    return stack


def start_counter(counter: Sink) -> None:
    """A counter begins: it joins the active ones, and the phases open on this thread start an
    entry on it."""
    _ACTIVE.append(counter)
    for frame in _open_here():
        if not frame.nested_in_itself:
            frame.tokens.append((counter, counter.enter_phase(frame.name)))


def stop_counter(counter: Sink) -> None:
    """A counter ends: phases no longer reach it."""
    with contextlib.suppress(ValueError):
        _ACTIVE.remove(counter)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Tag the work counted inside the block with the phase `name`; each ``with`` is one entry.

    Inside any counting (`profile`, `counting`, the pytest marker's count) the work run in the
    block is added to the phase, as well as to the totals and modules as before. Outside any
    counting it does nothing. Entered on a thread whose work the counter cannot see, it is
    listed in the profile's `uncounted` (never a silent 0) and adds no entry.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(
            f"phase(name) takes a non-empty str; got {type(name).__name__} {name!r:.60}"
        )
    stack = _open_here()
    frame = _Open(name, any(open_.name == name for open_ in stack))
    if not frame.nested_in_itself:
        frame.tokens = [(counter, counter.enter_phase(name)) for counter in list(_ACTIVE)]
    stack.append(frame)
    try:
        yield
    finally:
        stack.remove(frame)
        for counter, token in reversed(frame.tokens):
            counter.exit_phase(token)
