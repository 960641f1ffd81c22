"""Walking skeleton: raw.<venue> topics -> venue books in sync -> one row per market per
second (best bid/ask, sizes, mid) and its book health -> QuestDB; rejects -> dead-letter topic.

    python -m bytewax.run "cobflow.dataflows.top_of_book:kafka_flow()"

Venues: those in symbols.yaml that have a connector. Every market found in their topics
is tracked. `tail=True` (`cobflow run --follow`) keeps reading (live); the default stops
at the end of the topics (replay, backtest).
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator

from cobflow.config import ConfigError, Settings, load_settings, load_symbols
from cobflow.connectors import available_venues
from cobflow.dataflows.ends import kafka_input, questdb_output
from cobflow.dataflows.sinks.rows import rows_and_dead
from cobflow.dataflows.split import RowsAndDeadLetters, split_rows
from cobflow.operators.parse import parse_raw
from cobflow.operators.venue_book import venue_books
from cobflow.raw import RawMessage
from cobflow.tables import BOOK_HEALTH, TOP_OF_BOOK

TABLES = [TOP_OF_BOOK, BOOK_HEALTH]


@operator
def top_of_book(
    step_id: str, raw: Stream[RawMessage], idle_timeout: float | None = None
) -> RowsAndDeadLetters:
    """Raw messages -> rows for QuestDB, and dead letters."""
    parsed = parse_raw("parse", raw)
    return split_rows("split", op.flat_map_batch("rows", venue_books("books", parsed, idle_timeout), rows_and_dead))


def venues_to_read(settings: Settings) -> list[str]:
    configured = load_symbols(settings.symbols_file).venues()
    venues = [v for v in configured if v in available_venues()]
    if not venues:
        raise ConfigError(
            f"{settings.symbols_file}: none of the configured venues ({', '.join(configured)}) "
            f"has a connector yet (available: {', '.join(available_venues())})"
        )
    return venues


def kafka_flow(settings: Settings | None = None, tail: bool | None = None) -> Dataflow:
    settings = settings or load_settings()
    tail = settings.flow.tail if tail is None else tail
    flow = Dataflow("top_of_book")
    raw, lag, unread = kafka_input(flow, settings, venues_to_read(settings), tail)
    rows, dead = top_of_book("top_of_book", raw, settings.flow.idle_timeout_s if tail else None)
    questdb_output(settings, TABLES, rows, dead, lag, unread, "top_of_book")
    return flow
