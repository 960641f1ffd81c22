"""Split a stream into its table rows and the rest (dead letters; raw messages)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from cobflow.deadletter import DeadLetter
from cobflow.tables import AnyRow, TableRow, TableRows


@dataclass(frozen=True)
class RowsAndRest:
    """Two streams out of one operator (Bytewax re-scopes dataclass fields, not tuples)."""

    rows: Stream[TableRow]
    rest: Stream

    def __iter__(self) -> Iterator[Stream]:  # rows, rest = ...
        return iter((self.rows, self.rest))


RowsAndDeadLetters = RowsAndRest  # a flow's output: its rows, and its dead letters


_ROWS = (TableRow, TableRows)


def _rows(batch: list) -> list[AnyRow]:
    return [x for x in batch if type(x) in _ROWS]


def _not_rows(batch: list) -> list:
    return [x for x in batch if type(x) not in _ROWS]


@operator
def split_rows(step_id: str, up: Stream) -> RowsAndRest:
    """Table rows, and everything else: two passes over each batch, cheaper than `branch`'s
    Python call per item."""
    return RowsAndRest(op.flat_map_batch("rows", up, _rows), op.flat_map_batch("rest", up, _not_rows))


def _dead(batch: list) -> list[DeadLetter]:
    return [x for x in batch if type(x) is DeadLetter]


def _not_dead(batch: list) -> list:
    return [x for x in batch if type(x) is not DeadLetter]


@operator
def split_dead_letters(step_id: str, up: Stream) -> RowsAndRest:
    """Dead letters (in `rows`), and everything else."""
    return RowsAndRest(op.flat_map_batch("dead", up, _dead), op.flat_map_batch("rest", up, _not_dead))
