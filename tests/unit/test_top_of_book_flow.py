"""The top-of-book pipeline on the recorded Binance traffic, run by Bytewax's test runner."""

from __future__ import annotations

import dataclasses

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from cobflow.capture import read_capture
from cobflow.dataflows.top_of_book import top_of_book
from cobflow.raw import RawMessage
from tests.conftest import SAMPLE
from tests.reference import top_of_book_rows

S = 1_000_000_000


def run(messages):
    flow = Dataflow("test_top_of_book")
    rows, dead = top_of_book("tob", op.input("in", flow, TestingSource(messages)))
    out, dlq = [], []
    op.output("rows", rows, TestingSink(out))
    op.output("dlq", dead, TestingSink(dlq))
    run_main(flow)
    top = {(r.symbols["market"], r.ts // S): r.columns for r in out if r.table == "top_of_book"}
    health = {(r.symbols["market"], r.ts // S): r.columns for r in out if r.table == "book_health"}
    return top, health, dlq


@pytest.fixture(scope="module")
def sample():
    return list(read_capture(SAMPLE))


def test_rows_worked_out_by_hand_from_the_fixture(sample):
    top, _, dlq = run(sample)
    assert dlq == []
    # NKN-USDT: REST snapshot at 512.32 (lastUpdateId 499869752) bids 0.3521 x 672, asks
    # 0.3525 x 3959. The diff at 512.06 (u=499869752) is inside it; those at 512.56/.66/.86
    # touch 0.3517, 0.3529, 0.3520, 0.3492, 0.3481: none better than the best levels.
    assert top[("NKN-USDT", 1633998512)] == {
        "best_bid": 0.3521, "best_bid_qty": 672.0, "best_ask": 0.3525, "best_ask_qty": 3959.0,
        "mid": pytest.approx(0.3523),
    }
    # LRC-BTC: snapshot at 516.84: 0.00000637 x 6500 / 0.00000638 x 24365; the diff at
    # 516.85 has u=259345543 = lastUpdateId: dropped.
    assert top[("LRC-BTC", 1633998516)]["best_bid_qty"] == 6500.0
    assert top[("LRC-BTC", 1633998516)]["best_ask_qty"] == 24365.0
    # 517 and 518 have no messages: the state carries over.
    assert top[("LRC-BTC", 1633998518)] == top[("LRC-BTC", 1633998516)]
    # 519.57: U=259345544 (= lastUpdateId+1) sets 0.00000638 to 27122.
    assert top[("LRC-BTC", 1633998519)]["best_ask"] == 0.00000638
    assert top[("LRC-BTC", 1633998519)]["best_ask_qty"] == 27122.0
    # 521.67 sets 0.00000638 to 5219, 521.77 sets 0.00000639 (not best) to 24500.
    assert top[("LRC-BTC", 1633998521)]["best_ask_qty"] == 5219.0
    # RUNE-EUR: snapshot at 522.74 (6.251 x 69.3 / 6.269 x 69.3); the one later diff
    # (541.99) changes 6.248 and 6.084 only.
    assert top[("RUNE-EUR", 1633998541)] == {
        "best_bid": 6.251, "best_bid_qty": 69.3, "best_ask": 6.269, "best_ask_qty": 69.3,
        "mid": pytest.approx(6.26),
    }
    # One row per second from the snapshot's second to the market's last message.
    per_market = {m: sorted(s for mm, s in top if mm == m) for m, _ in top}
    assert per_market["NKN-USDT"] == list(range(1633998512, 1633998543))  # 31
    assert per_market["LRC-BTC"] == list(range(1633998516, 1633998541))  # 25
    assert per_market["BLZ-ETH"] == list(range(1633998514, 1633998533))  # 19
    assert per_market["RUNE-EUR"] == list(range(1633998522, 1633998542))  # 20


def test_every_row_matches_the_naive_reference(sample):
    top, health, _ = run(sample)
    expected = top_of_book_rows([m.to_dict() for m in sample])
    got = {k: (c["best_bid"], c["best_bid_qty"], c["best_ask"], c["best_ask_qty"]) for k, c in top.items()}
    assert got == expected
    assert all(h["synced"] and h["gaps"] == 0 and h["malformed"] == 0 for h in health.values())
    last = {m: h for (m, s), h in sorted(health.items())}
    assert last["NKN-USDT"]["snapshots"] == 1
    assert last["NKN-USDT"]["updates"] == 149  # 150 diffs, the first inside the snapshot


def nkn_diff_index(sample, n):
    idx = [i for i, m in enumerate(sample) if m.symbol == "NKN-USDT" and m.channel == "depth@100ms"]
    return idx[n]


def test_dropped_diff_goes_to_dead_letters_and_unsyncs_the_market(sample):
    i = nkn_diff_index(sample, 40)
    lost, after = sample[i], sample[nkn_diff_index(sample, 41)]
    top, health, dlq = run(sample[:i] + sample[i + 1:])
    [letter] = dlq
    lost_u = orjson.loads(lost.payload)["data"]["u"]
    assert letter.stage == "sync"
    assert letter.reason.startswith(f"sequence gap: expected U == {orjson.loads(lost.payload)['data']['U']}")
    assert letter.raw == after  # the first diff that does not connect is the one rejected
    assert orjson.loads(after.payload)["data"]["U"] == lost_u + 1
    gap_second = letter.raw.ts_recv // S
    nkn = sorted(s for m, s in top if m == "NKN-USDT")
    # Rows stop with the last second that closed before the gap; no snapshot follows.
    assert nkn[-1] < gap_second
    assert health[("NKN-USDT", 1633998542)]["synced"] is False
    assert health[("NKN-USDT", 1633998542)]["gaps"] == 1
    # Other markets are untouched.
    full, _, _ = run(sample)
    assert {k: v for k, v in top.items() if k[0] != "NKN-USDT"} == {k: v for k, v in full.items() if k[0] != "NKN-USDT"}


def test_truncated_frame_goes_to_dead_letters_and_nothing_else_changes(sample):
    i = nkn_diff_index(sample, 10)
    broken = dataclasses.replace(sample[i], payload=sample[i].payload[:60])
    # Keep the sequence intact: insert the broken copy after the real frame.
    top, health, dlq = run(sample[: i + 1] + [broken] + sample[i + 1:])
    [letter] = dlq
    assert letter.stage == "parse" and letter.reason.startswith("not JSON")
    assert letter.raw == broken
    full, _, _ = run(sample)
    assert top == full
    assert health[("NKN-USDT", 1633998542)]["malformed"] == 1


def test_a_message_at_the_window_end_belongs_to_the_next_second():
    """METRICS.md: the state at second S uses only ts_recv < S+1s."""
    def depth(ts, U, u, bid):
        payload = {"e": "depthUpdate", "s": "BNBBTC", "U": U, "u": u, "b": [[bid, "1"]], "a": []}
        return RawMessage(ts, "binance", "ws", "depth@100ms", "BNB-BTC", orjson.dumps(payload).decode())

    snap = RawMessage(10 * S, "binance", "rest", "snapshot", "BNB-BTC",
                      '{"lastUpdateId":1,"bids":[["1.0","1"]],"asks":[["3.0","1"]]}')
    msgs = [snap, depth(11 * S - 1, 2, 2, "1.5"), depth(11 * S, 3, 3, "2.0"), depth(12 * S + 5, 4, 4, "2.5")]
    top, _, _ = run(msgs)
    assert top[("BNB-BTC", 10)]["best_bid"] == 1.5  # 10.999999999 s is inside second 10
    assert top[("BNB-BTC", 11)]["best_bid"] == 2.0  # exactly 11 s is not
    assert top[("BNB-BTC", 12)]["best_bid"] == 2.5
    assert sorted(s for _, s in top) == [10, 11, 12]
