"""The whole path on real servers: capture -> Kafka -> Bytewax (bytewax.run) -> QuestDB."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from cobflow.capture import read_capture
from cobflow.kafka_io import ensure_topics, publish
from cobflow.qdb import query, wait_for_wal
from tests.conftest import SAMPLE
from tests.integration.helpers import cobflow, consume_all, run_top_of_book, second
from tests.reference import top_of_book_rows

pytestmark = pytest.mark.integration


def tables(settings):
    return settings.questdb.table("top_of_book"), settings.questdb.table("book_health")


def test_fixture_replayed_through_kafka_lands_in_questdb_as_worked_out_by_hand(namespace):
    settings, env = namespace
    out = cobflow(env, "replay", str(SAMPLE))
    assert "published 269 messages" in out
    run_top_of_book(env)
    tob, health = tables(settings)
    wait_for_wal(settings.questdb, [tob, health])

    rows = query(settings.questdb, f"select * from {tob} order by market, ts")
    got = {
        (r["market"], second(r["ts"])): (r["best_bid"], r["best_bid_qty"], r["best_ask"], r["best_ask_qty"])
        for r in rows
    }
    assert len(rows) == 95  # 31 NKN + 25 LRC + 19 BLZ + 20 RUNE seconds
    assert {r["venue"] for r in rows} == {"binance"}
    # Worked out by hand from BINANCE.http.0.0 / BINANCE.ws.1.0 (see the unit test).
    assert got[("NKN-USDT", 1633998512)] == (0.3521, 672.0, 0.3525, 3959.0)
    assert got[("LRC-BTC", 1633998519)] == (0.00000637, 6500.0, 0.00000638, 27122.0)
    assert got[("RUNE-EUR", 1633998541)] == (6.251, 69.3, 6.269, 69.3)
    nkn512 = next(r for r in rows if r["market"] == "NKN-USDT" and second(r["ts"]) == 1633998512)
    assert nkn512["mid"] == pytest.approx((0.3521 + 0.3525) / 2)
    # And every row against the naive reference model.
    assert got == top_of_book_rows([m.to_dict() for m in read_capture(SAMPLE)])

    h = query(settings.questdb, f"select count() n, sum(gaps) gaps, sum(malformed) bad from {health} where not synced")
    assert h == [{"n": 0, "gaps": None, "bad": None}]
    assert query(settings.questdb, f"select count() n from {health}")[0]["n"] == 95
    assert consume_all(settings.kafka, settings.kafka.dlq()) == []

    # Running the same flow over the same topics again writes the same rows, no duplicates.
    run_top_of_book(env)
    wait_for_wal(settings.questdb, [tob, health])
    assert query(settings.questdb, f"select count() n from {tob}")[0]["n"] == 95


def test_bad_input_goes_to_the_dead_letter_topic_with_its_reason_and_is_counted(namespace):
    settings, env = namespace
    sample = list(read_capture(SAMPLE))
    nkn = [i for i, m in enumerate(sample) if m.symbol == "NKN-USDT" and m.channel == "depth@100ms"]
    truncated = dataclasses.replace(sample[nkn[10]], payload=sample[nkn[10]].payload[:60])
    dropped = nkn[40]
    feed = sample[: nkn[10] + 1] + [truncated] + sample[nkn[10] + 1 : dropped] + sample[dropped + 1 :]
    ensure_topics(settings.kafka, [settings.kafka.raw_topic("binance"), settings.kafka.dlq()])
    assert publish(settings.kafka, feed) == len(feed)
    run_top_of_book(env)

    letters = consume_all(settings.kafka, settings.kafka.dlq())
    bodies = sorted((orjson.loads(m.value()) for m in letters), key=lambda b: b["message"]["ts_recv"])
    assert [b["stage"] for b in bodies] == ["parse", "sync"]
    assert bodies[0]["reason"].startswith("not JSON")
    assert bodies[0]["message"] == truncated.to_dict()
    lost_U = orjson.loads(sample[dropped].payload)["data"]["U"]
    assert bodies[1]["reason"].startswith(f"sequence gap: expected U == {lost_U}")
    assert bodies[1]["message"] == sample[nkn[41]].to_dict()
    assert dict(letters[0].headers())["stage"] in (b"parse", b"sync")

    tob, health = tables(settings)
    wait_for_wal(settings.questdb, [tob, health])
    last = query(
        settings.questdb,
        f"select synced, gaps, malformed, snapshots from {health} "
        f"where market = 'NKN-USDT' latest on ts partition by market",
    )
    assert last == [{"synced": False, "gaps": 1, "malformed": 1, "snapshots": 1}]
    # The other markets are complete and unaffected.
    counts = {r["market"]: r["n"] for r in query(settings.questdb, f"select market, count() n from {tob}")}
    assert counts["LRC-BTC"] == 25 and counts["BLZ-ETH"] == 19 and counts["RUNE-EUR"] == 20
    assert counts["NKN-USDT"] < 31
