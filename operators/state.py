"""Operator state kept in the Bytewax recovery store, stamped with the layout it was written in.

A resumed flow unpickles the objects of the cobflow that stored them; when their classes have
changed shape since (new attributes, new slots), the flow would fail later with an obscure
AttributeError. The stamp turns that into one clear message at start.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from cobflow.config import load_settings

#: Bump when a class kept in operator state changes shape (CobState, VenueBookState, the
#: venue books). 2: books keep checksum tokens; CobState parses its symbol's frames.
#: 3: the moving averages keep their values in one buffer; bars may be native.
#: 4: venue feeds keep the newest applied ts_recv (freshness); the features step's state.
#: 5: the account keeps each run's strategies; the signals-and-models step no longer decides.
#: 6: the account keeps the buy-and-hold baseline's orders.
#: 7: venue feeds convert quotes; CobState keeps rate feeds and rates.
#: 8: the account keeps working orders (limit, stop, cancel) and the venues' last trades.
#: 9: the account keeps its venue orders (shadow/live: client ids sent, tracks, reports).
STATE_LAYOUT = 10


class StaleRecoveryState(RuntimeError):
    """The recovery store was written by a cobflow whose state layout differs."""


def stamp(state: Any) -> tuple[int, Any] | None:
    return None if state is None else (STATE_LAYOUT, state)


@cache
def _kept() -> bool:
    return load_settings().flow.recovery


def snapshot(state: Any) -> tuple[int, Any] | None:
    """A stateful step's snapshot at an epoch's end: a stamped copy of its state where a
    recovery store keeps it (`FlowSettings.recovery`); none without a store, where Bytewax
    still asks every epoch but keeps nothing (the copies cost 2% of a Kafka run)."""
    return stamp(copy.deepcopy(state)) if _kept() else None


def unstamp(resume: Any, step: str) -> Any:
    """The state a Bytewax builder was given back, or a StaleRecoveryState that says what to do."""
    if resume is None:
        return None
    if isinstance(resume, tuple) and len(resume) == 2 and resume[0] == STATE_LAYOUT:
        return resume[1]
    found = resume[0] if isinstance(resume, tuple) and resume and isinstance(resume[0], int) else "1 (unstamped)"
    raise StaleRecoveryState(
        f"step {step!r}: the recovery store holds state of layout {found}, written by another cobflow "
        f"version; this one reads layout {STATE_LAYOUT}. Start the flow with a new, empty --recovery "
        f"directory: it reads its input from the start again, and the tables' dedup keys keep the "
        f"rows exact.")
