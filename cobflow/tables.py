"""QuestDB tables: one definition serves the DDL, the ILP writer and the readers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    symbols: tuple[str, ...]  # SYMBOL columns (low-cardinality tags)
    columns: tuple[tuple[str, str], ...]  # (name, QuestDB type)
    dedup_keys: tuple[str, ...]

    def ddl(self, full_name: str) -> str:
        cols = ["ts TIMESTAMP"]
        cols += [f"{s} SYMBOL" for s in self.symbols]
        cols += [f"{c} {t}" for c, t in self.columns]
        return (
            f"CREATE TABLE IF NOT EXISTS {full_name} ({', '.join(cols)}) "
            f"TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS({', '.join(self.dedup_keys)})"
        )


@dataclass(slots=True)
class TableRow:
    table: str
    ts: int  # ns since the epoch: the designated timestamp
    symbols: dict[str, str]
    columns: dict[str, float | int | bool | str | None]


TOP_OF_BOOK = Table(
    "top_of_book",
    symbols=("venue", "market"),
    columns=(
        ("best_bid", "DOUBLE"),
        ("best_bid_qty", "DOUBLE"),
        ("best_ask", "DOUBLE"),
        ("best_ask_qty", "DOUBLE"),
        ("mid", "DOUBLE"),
    ),
    dedup_keys=("ts", "venue", "market"),
)

BOOK_HEALTH = Table(
    "book_health",
    symbols=("venue", "market"),
    columns=(
        ("synced", "BOOLEAN"),
        ("snapshots", "LONG"),
        ("updates", "LONG"),
        ("gaps", "LONG"),
        ("checksum_checks", "LONG"),
        ("checksum_failures", "LONG"),
        ("resyncs", "LONG"),
        ("malformed", "LONG"),
    ),
    dedup_keys=("ts", "venue", "market"),
)

TABLES = {t.name: t for t in (TOP_OF_BOOK, BOOK_HEALTH)}
