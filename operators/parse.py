"""Raw messages -> venue events, grouped by venue market, in batches."""

from __future__ import annotations

from dataclasses import dataclass

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from cobflow.connectors import get_venue
from cobflow.connectors.base import BookSyncBase
from cobflow.deadletter import DeadLetter
from cobflow.events import Event, MalformedFrame, Trade
from cobflow.raw import RawMessage


@dataclass(slots=True)
class Parsed:
    """The events one raw message carries for one market (the raw message kept for the DLQ)."""

    raw: RawMessage
    events: list[Event]


def market_key(venue: str, market: str | None) -> str:
    return f"{venue}:{market or '*'}"


def parse_batch(batch: list[RawMessage]) -> list[tuple[str, Parsed | DeadLetter]]:
    out: list[tuple[str, Parsed | DeadLetter]] = []
    parsers = {}
    for raw in batch:
        parse = parsers.get(raw.exchange)
        if parse is None:
            parse = parsers[raw.exchange] = get_venue(raw.exchange).parse
        try:
            events = parse(raw)
        except MalformedFrame as exc:
            out.append((market_key(raw.exchange, raw.symbol), DeadLetter("parse", str(exc), raw)))
            continue
        if not events:
            continue
        if len(events) == 1 or all(e.market == events[0].market for e in events):
            out.append((market_key(raw.exchange, events[0].market), Parsed(raw, events)))
            continue
        by_market: dict[str, list[Event]] = {}
        for e in events:
            by_market.setdefault(e.market, []).append(e)
        out.extend((market_key(raw.exchange, m), Parsed(raw, evs)) for m, evs in by_market.items())
    return out


def apply_to_book(sync: BookSyncBase, item: Parsed | DeadLetter) -> tuple[list[Trade], list[DeadLetter]]:
    """Apply one parsed frame to its venue book; hand back its trades and its dead letters
    (the malformed frame itself, counted, or one per sequence gap / checksum failure)."""
    if isinstance(item, DeadLetter):
        sync.health.malformed += 1
        return [], [item]
    trades: list[Trade] = []
    dead: list[DeadLetter] = []
    for event in item.events:
        if isinstance(event, Trade):
            trades.append(event)
            continue
        reason = sync.apply(event)
        if reason is not None:
            dead.append(DeadLetter("sync", reason, item.raw))
    return trades, dead


@operator
def parse_raw(step_id: str, up: Stream[RawMessage]) -> Stream[tuple[str, Parsed | DeadLetter]]:
    """Parse raw messages with their venue's parser; malformed frames become dead letters."""
    return op.flat_map_batch("parse", up, parse_batch)
