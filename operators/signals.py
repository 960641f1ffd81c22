"""Signal rows (the `signals` table) from `cobflow.metrics.signals`."""

from __future__ import annotations

from cobflow.metrics.signals import Signal
from cobflow.tables import SIGNALS, TableRow


def signal_row(symbol: str, ts: int, sig: Signal) -> TableRow:
    return TableRow(SIGNALS.name, ts, {"symbol": symbol, "kind": sig.kind}, {
        "direction": sig.direction, "strength": sig.strength, "value": sig.value, "threshold": sig.threshold,
        "detail": sig.detail})
