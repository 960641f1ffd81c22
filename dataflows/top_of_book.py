"""Walking skeleton: raw.<venue> topics -> venue books in sync -> one row per market per
second (best bid/ask, sizes, mid) and its book health -> QuestDB; rejects -> dead-letter topic.

    python -m bytewax.run dataflows.top_of_book:flow

Venues: those in symbols.yaml that have a connector. Every market found in their topics
is tracked. COBFLOW_FLOW__TAIL=true keeps reading (live); the default stops at the end of
the topics (replay, backtest).
"""

from __future__ import annotations

from bytewax.dataflow import Dataflow, Stream, operator
from cobflow.config import Settings, load_settings, load_symbols
from cobflow.raw import RawMessage
from cobflow.tables import BOOK_HEALTH, TOP_OF_BOOK
from connectors import available_venues
from dataflows.kafka_ends import kafka_input, questdb_output
from operators.parse import parse_raw
from operators.split import RowsAndDeadLetters, split_rows
from operators.venue_book import venue_books

TABLES = [TOP_OF_BOOK, BOOK_HEALTH]


class FlowConfigError(ValueError):
    pass


@operator
def top_of_book(
    step_id: str, raw: Stream[RawMessage], idle_timeout: float | None = None
) -> RowsAndDeadLetters:
    """Raw messages -> rows for QuestDB, and dead letters."""
    parsed = parse_raw("parse", raw)
    return split_rows("split", venue_books("books", parsed, idle_timeout))


def venues_to_read(settings: Settings) -> list[str]:
    configured = load_symbols(settings.symbols_file).venues()
    venues = [v for v in configured if v in available_venues()]
    if not venues:
        raise FlowConfigError(
            f"{settings.symbols_file}: none of the configured venues ({', '.join(configured)}) "
            f"has a connector yet (available: {', '.join(available_venues())})"
        )
    return venues


def build_flow(settings: Settings | None = None) -> Dataflow:
    settings = settings or load_settings()
    flow = Dataflow("top_of_book")
    raw, lag = kafka_input(flow, settings, venues_to_read(settings))
    idle = settings.flow.idle_timeout_s if settings.flow.tail else None
    rows, dead = top_of_book("top_of_book", raw, idle)
    questdb_output(settings, TABLES, rows, dead, lag)
    return flow


def __getattr__(name: str) -> Dataflow:
    # `bytewax.run dataflows.top_of_book:flow` looks up `flow`; build it from settings then,
    # not at import, so tests can import the module without servers or environment.
    if name == "flow":
        return build_flow()
    raise AttributeError(name)
