"""Split a flow's output into table rows and dead letters."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from cobflow.deadletter import DeadLetter
from cobflow.tables import TableRow


@dataclass(frozen=True)
class RowsAndDeadLetters:
    """Two streams out of one operator (Bytewax re-scopes dataclass fields, not tuples)."""

    rows: Stream[TableRow]
    dead: Stream[DeadLetter]

    def __iter__(self) -> Iterator[Stream]:  # rows, dead = ...
        return iter((self.rows, self.dead))


@operator
def split_rows(step_id: str, up: Stream[TableRow | DeadLetter]) -> RowsAndDeadLetters:
    b = op.branch("split", up, lambda x: isinstance(x, TableRow))
    return RowsAndDeadLetters(b.trues, b.falses)
