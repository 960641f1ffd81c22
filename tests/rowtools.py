"""Rows as plain, comparable values (feature vectors are arrays: compared as tuples)."""

from __future__ import annotations

import numpy as np


def plain(row) -> tuple:
    cols = tuple(sorted((k, tuple(v.tolist()) if isinstance(v, np.ndarray) else v) for k, v in row.columns.items()))
    return (row.table, row.ts, tuple(sorted(row.symbols.items())), cols)


def plain_sorted(rows) -> list[tuple]:
    return sorted((plain(r) for r in rows), key=repr)
