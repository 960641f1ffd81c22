"""Split a stream into its table rows and the rest (dead letters; raw messages)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from cobflow.deadletter import DeadLetter
from cobflow.tables import TableRow, TableRows


@dataclass(frozen=True)
class RowsAndRest:
    """Two streams out of one operator (Bytewax re-scopes dataclass fields, not tuples)."""

    rows: Stream[TableRow]
    rest: Stream

    def __iter__(self) -> Iterator[Stream]:  # rows, rest = ...
        return iter((self.rows, self.rest))


RowsAndDeadLetters = RowsAndRest  # a flow's output: its rows, and its dead letters


_ROWS = (TableRow, TableRows)


def _split(up: Stream, kinds: tuple[type, ...], name: str) -> RowsAndRest:
    """Items of these types, and everything else: two passes over each batch, cheaper than
    `branch`'s Python call per item."""
    def of(batch: list) -> list:
        return [x for x in batch if type(x) in kinds]

    def not_of(batch: list) -> list:
        return [x for x in batch if type(x) not in kinds]

    return RowsAndRest(op.flat_map_batch(name, up, of), op.flat_map_batch("rest", up, not_of))


@operator
def split_rows(step_id: str, up: Stream) -> RowsAndRest:
    """Table rows, and everything else."""
    return _split(up, _ROWS, "rows")


@operator
def split_dead_letters(step_id: str, up: Stream) -> RowsAndRest:
    """Dead letters (in `rows`), and everything else."""
    return _split(up, (DeadLetter,), "dead")
