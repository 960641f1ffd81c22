"""The raw topics source on the real Kafka: every record once, in order per partition, and
no topic read further ahead (in ts_recv) than the skew allows plus one batch."""

from __future__ import annotations

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from cobflow.kafka_io import ensure_topics, publish
from cobflow.raw import RawMessage
from cobflow.sources import RawTopicsSource
from cobflow.tables import TableRow

pytestmark = pytest.mark.integration
S = 1_000_000_000


def messages(venue: str, n: int, step_ns: int, markets: list[str]) -> list[RawMessage]:
    return [RawMessage(10 * S + i * step_ns, venue, "ws", "test", markets[i % len(markets)], f'{{"i":{i}}}')
            for i in range(n)]


def read_all(settings, topics: dict[str, str], batch: int, skew_s: float) -> list:
    out: list = []
    flow = Dataflow("source_test")
    items = op.input("in", flow, RawTopicsSource(settings.kafka.servers, topics, tail=False, batch_size=batch,
                                                 max_skew_s=skew_s))
    op.output("out", items, TestingSink(out))
    run_main(flow)
    return out


def test_topics_are_read_in_step_every_record_once(namespace):
    settings, _ = namespace
    # binance: 10 messages per second of ts_recv; kraken: 1 per second, so read by count the
    # kraken topic would run 10x ahead in time. Three markets spread over the 3 partitions.
    fast = messages("binance", 3000, S // 10, ["A", "B", "C"])
    slow = messages("kraken", 300, S, ["A", "B", "C"])
    topics = {settings.kafka.raw_topic(v): v for v in ("binance", "kraken")}
    ensure_topics(settings.kafka, list(topics))
    publish(settings.kafka, fast + slow)
    batch, skew = 50, 5.0
    out = read_all(settings, topics, batch, skew)
    raw = [x for x in out if isinstance(x, RawMessage)]
    assert all(isinstance(x, (RawMessage, TableRow)) for x in out)
    assert sorted((m.exchange, m.payload) for m in raw) == sorted((m.exchange, m.payload) for m in fast + slow)
    # per market (one partition each) the records come in the order they were published
    for venue, sent in (("binance", fast), ("kraken", slow)):
        for market in "ABC":
            got = [m.payload for m in raw if m.exchange == venue and m.symbol == market]
            assert got == [m.payload for m in sent if m.symbol == market]
    # in step: when a message is emitted, the other venue has reached within skew + one batch
    # of it, unless the other venue is already finished
    last = {"binance": 10 * S, "kraken": 10 * S}  # both start at 10 s
    end = {"binance": fast[-1].ts_recv, "kraken": slow[-1].ts_recv}
    worst = 0.0
    for m in raw:
        last[m.exchange] = max(last[m.exchange], m.ts_recv)
        other = "kraken" if m.exchange == "binance" else "binance"
        if last[other] < end[other]:
            worst = max(worst, (m.ts_recv - last[other]) / S)
    assert worst <= skew + 0.1, worst  # held back record by record, not batch by batch
    # without the alignment, one fetch of the kraken topic alone spans all of its 300 s
