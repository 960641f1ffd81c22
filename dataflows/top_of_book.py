"""Walking skeleton: raw.<venue> topics -> venue books in sync -> one row per market per
second (best bid/ask, sizes, mid) and its book health -> QuestDB; rejects -> dead-letter topic.

    python -m bytewax.run dataflows.top_of_book:flow

Venues: those in symbols.yaml that have a connector. Every market found in their topics
is tracked. COBFLOW_FLOW__TAIL=true keeps reading (live); the default stops at the end of
the topics (replay, backtest).
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream, operator
from cobflow.config import Settings, load_settings, load_symbols
from cobflow.deadletter import DeadLetter
from cobflow.kafka_io import from_record
from cobflow.raw import RawMessage
from cobflow.sinks.questdb import QuestDBSink
from cobflow.tables import BOOK_HEALTH, TOP_OF_BOOK, TableRow
from cobflow.kafka_io import ensure_topics
from connectors import available_venues
from operators.parse import parse_raw
from operators.venue_book import venue_books

TABLES = [TOP_OF_BOOK, BOOK_HEALTH]


class FlowConfigError(ValueError):
    pass


@operator
def top_of_book(
    step_id: str, raw: Stream[RawMessage], idle_timeout: float | None = None
) -> tuple[Stream[TableRow], Stream[DeadLetter]]:
    """Raw messages -> (rows for QuestDB, dead letters)."""
    parsed = parse_raw("parse", raw)
    out = venue_books("books", parsed, idle_timeout)
    split = op.branch("split", out, lambda x: isinstance(x, TableRow))
    return split.trues, split.falses


def venues_to_read(settings: Settings) -> list[str]:
    configured = load_symbols(settings.symbols_file).venues()
    venues = [v for v in configured if v in available_venues()]
    if not venues:
        raise FlowConfigError(
            f"{settings.symbols_file}: none of the configured venues ({', '.join(configured)}) "
            f"has a connector yet (available: {', '.join(available_venues())})"
        )
    return venues


def _from_kafka(settings: Settings):
    def convert(msg: KafkaSourceMessage) -> RawMessage:
        return from_record(settings.kafka.venue_of_topic(msg.topic), msg.key, msg.value, msg.headers)

    return convert


def _to_dlq(letter: DeadLetter) -> KafkaSinkMessage:
    key = letter.raw.symbol.encode() if letter.raw.symbol else None
    return KafkaSinkMessage(key, letter.to_json(), headers=letter.kafka_headers())


def build_flow(settings: Settings | None = None) -> Dataflow:
    settings = settings or load_settings()
    topics = [settings.kafka.raw_topic(v) for v in venues_to_read(settings)]
    # A venue with no data yet is not an error: its topic is created empty and read as it fills.
    ensure_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    flow = Dataflow("top_of_book")
    records = op.input(
        "kafka",
        flow,
        KafkaSource(
            [settings.kafka.servers],
            topics,
            tail=settings.flow.tail,
            batch_size=settings.flow.batch_size,
        ),
    )
    raw = op.map("raw", records, _from_kafka(settings))
    idle = settings.flow.idle_timeout_s if settings.flow.tail else None
    rows, dead = top_of_book("top_of_book", raw, idle)
    op.output("questdb", rows, QuestDBSink(settings.questdb, TABLES))
    op.output(
        "dlq",
        op.map("dlq_message", dead, _to_dlq),
        KafkaSink([settings.kafka.servers], settings.kafka.dlq()),
    )
    return flow


def __getattr__(name: str) -> Dataflow:
    # `bytewax.run dataflows.top_of_book:flow` looks up `flow`; build it from settings then,
    # not at import, so tests can import the module without servers or environment.
    if name == "flow":
        return build_flow()
    raise AttributeError(name)
