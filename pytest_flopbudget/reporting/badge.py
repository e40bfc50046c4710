"""The badge: a shields.io endpoint JSON (``--flop-report=badge:PATH``). No torch.

``{"schemaVersion": 1, "label": "FLOP budget", "message": ..., "color": ...}``, from the
tests' statuses (the kinds of budgets.verdict.STATUSES):

- red when a budgeted test failed: the failing kinds counted, worst first, e.g. ``2 over
  budget, 1 grew`` (``over budget``, ``budget error``, ``grew`` past fail_on_increase,
  ``uncounted`` under strict, ``failed`` for its own reason); warnings are not counted then;
- yellow when none failed but some grew past warn_on_increase: ``⚠️ 1 grew``;
- green otherwise: ``12/12 within budget``; lightgrey ``no budgeted tests`` for a run with none.

Serve it from a public URL and show it with
``https://img.shields.io/endpoint?url=<that URL>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["LABEL", "badge"]

LABEL = "FLOP budget"
# the failing kinds in the message's order (budgets.verdict.STATUSES's), and their words
FAILING = {
    "over": "over budget",
    "error": "budget error",
    "grew": "grew",
    "uncounted": "uncounted",
    "failed": "failed",
}


def badge(kinds: Sequence[str]) -> dict[str, Any]:
    """The endpoint JSON for a run whose budgeted tests have the status `kinds` (``over``,
    ``warn``, ``ok``…; a label's ``over:flops`` counts as ``over``)."""
    bases = [kind.split(":")[0] for kind in kinds]
    failing = [f"{bases.count(kind)} {words}" for kind, words in FAILING.items() if kind in bases]
    warned = bases.count("warn")
    if failing:
        message, color = ", ".join(failing), "red"
    elif warned:
        message, color = f"⚠️ {warned} grew", "yellow"
    elif bases:
        message, color = f"{len(bases)}/{len(bases)} within budget", "green"
    else:
        message, color = "no budgeted tests", "lightgrey"
    return {"schemaVersion": 1, "label": LABEL, "message": message, "color": color}
