"""The raw topics source on the real Kafka: every record once, in order per partition, and
no topic read further ahead (in ts_recv) than the skew allows plus one batch."""

from __future__ import annotations

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from cobflow.dataflows.sources import RawTopicsSource
from cobflow.kafka_io import ensure_topics, publish
from cobflow.raw import RawMessage
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


def test_a_record_without_a_valid_ts_recv_header_is_a_dead_letter_and_reading_goes_on(namespace):
    """A poison pill (no ts_recv header; a header that is no integer) stopped every start of
    the flow. Now each is a dead letter of stage `read` that names its place, in order
    between the records around it, and every other record is read."""
    from confluent_kafka import Producer

    from cobflow.deadletter import DeadLetter
    from cobflow.kafka_io import producer

    settings, _ = namespace
    topic = settings.kafka.raw_topic("okx")
    ensure_topics(settings.kafka, [topic])
    good = messages("okx", 6, S, ["A"])
    publish(settings.kafka, good[:3])
    p: Producer = producer(settings.kafka)
    p.produce(topic, key=b"A", value=b'{"no":"header"}', headers=[("kind", b"ws")])
    p.produce(topic, key=b"A", value=b"{}", headers=[("ts_recv", b"soon")])
    p.flush(10)
    publish(settings.kafka, good[3:])
    out = read_all(settings, {topic: "okx"}, 2, 5.0)
    items = [x for x in out if not isinstance(x, TableRow)]
    assert [type(x).__name__ for x in items] == ["RawMessage"] * 3 + ["DeadLetter"] * 2 + ["RawMessage"] * 3
    assert [m.payload for m in items if isinstance(m, RawMessage)] == [m.payload for m in good]
    dead = [x for x in items if isinstance(x, DeadLetter)]
    part = next(iter({d.reason.split("]")[0] for d in dead}))
    assert [d.reason for d in dead] == [f"{part}]@3: record has no valid ts_recv header",
                                        f"{part}]@4: record has no valid ts_recv header"]
    assert {d.stage for d in dead} == {"read"} and dead[0].raw.payload == '{"no":"header"}'
    assert dead[0].raw.exchange == "okx" and dead[0].raw.symbol == "A" and dead[0].raw.ts_recv > 0


def test_the_cob_flow_dead_letters_a_poison_pill_and_runs_to_the_end_twice(namespace, tmp_path):
    """`cobflow run cob` over topics with one record without a ts_recv header: exit 0, the
    rows of every second, the record in `dead_letters` (stage read) and in the dlq topic; a
    second start from the recovery store does not stop at it either."""
    from pathlib import Path

    from cobflow.kafka_io import producer
    from cobflow.qdb import query, wait_for_wal
    from tests.integration.helpers import cobflow, consume_all

    settings, env = namespace
    config = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(config), "simulate", "--duration", "12", "--seed", "5", "--out", str(capture))
    cobflow(env, "--config", str(config), "replay", str(capture))
    p = producer(settings.kafka)
    p.produce(settings.kafka.raw_topic("binance"), key=b"BTC-USDT", value=b"{}", headers=[("kind", b"ws")])
    p.flush(10)
    recovery = tmp_path / "recovery"
    for _ in range(2):
        cobflow(env, "--config", str(config), "run", "cob", "--recovery", str(recovery))
    table = settings.questdb.table("dead_letters")
    wait_for_wal(settings.questdb, [table, settings.questdb.table("cob_summary")])
    dead = query(settings.questdb, f"SELECT venue, stage, reason FROM {table}")
    assert [(d["venue"], d["stage"]) for d in dead] == [("binance", "read")], dead
    assert dead[0]["reason"].endswith(": record has no valid ts_recv header")
    summaries = query(settings.questdb, f"SELECT count() n FROM {settings.questdb.table('cob_summary')}")[0]["n"]
    assert summaries >= 2 * 10  # both symbols' seconds
    dlq = consume_all(settings.kafka, settings.kafka.dlq())
    assert len(dlq) == 1
