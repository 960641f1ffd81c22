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


def _rows(batch: list) -> list[TableRow]:
    return [x for x in batch if type(x) is TableRow]


def _dead(batch: list) -> list[DeadLetter]:
    return [x for x in batch if type(x) is not TableRow]


@operator
def split_rows(step_id: str, up: Stream[TableRow | DeadLetter]) -> RowsAndDeadLetters:
    # two passes over each batch: cheaper than `branch`'s Python call per item
    return RowsAndDeadLetters(op.flat_map_batch("rows", up, _rows), op.flat_map_batch("dead", up, _dead))
