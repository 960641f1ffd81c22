"""The hftbacktest side of bench/peer.py, run with the peer's own interpreter (a venv holding
hftbacktest 2.4.4, never cobflow's):

    python bench/peer_hbt.py convert CAPTURE.jsonl.gz EVENTS.npz     # our raw capture -> its events
    python bench/peer_hbt.py run EVENTS.npz TOPS.npy                  # its backtest; TOPS: (second, bid, ask)

`convert` reads the capture's Binance frames (CAPTURE.md: the REST snapshot, depth@100ms
diffs, aggTrade) as Binance documents them: diffs apply from the first whose [U, u] holds
lastUpdateId + 1, a gap (U != previous u + 1) waits for the next snapshot, which clears the
book; the local time is our ts_recv, the exchange time the frame's E. hftbacktest's own
validation then orders the events (exchange and local timelines).

`run` is a per-second strategy on one asset (risk-averse queue model, 10 ms order latency
each way, no partial fills, maker/taker fees 2/10 bps): at each second's end it reads the
best bid and ask (kept for the agreement check), and once a minute sends an IOC limit order
through the touch, alternating buy and sell.
"""

from __future__ import annotations

import gzip
import sys
import time

import numpy as np

NS = 1_000_000_000


def convert(capture: str, out: str) -> None:
    import orjson
    from hftbacktest import (
        BUY_EVENT,
        DEPTH_CLEAR_EVENT,
        DEPTH_EVENT,
        DEPTH_SNAPSHOT_EVENT,
        SELL_EVENT,
        TRADE_EVENT,
    )
    from hftbacktest.data.validation import correct_event_order, correct_local_timestamp
    from hftbacktest.types import event_dtype

    rows: list[tuple] = []
    last_u: int | None = None  # the last applied diff's u; None: waiting for a snapshot
    snapshot_id: int | None = None
    opener = gzip.open if capture.endswith(".gz") else open
    with opener(capture, "rb") as f:
        for line in f:
            msg = orjson.loads(line)
            if msg["exchange"] != "binance":
                continue
            local = int(msg["ts_recv"])
            payload = orjson.loads(msg["payload"])
            channel = msg["channel"]
            if channel == "snapshot":
                snapshot_id, last_u = int(payload["lastUpdateId"]), None
                for side, levels in ((BUY_EVENT, payload["bids"]), (SELL_EVENT, payload["asks"])):
                    if levels:
                        rows.append((DEPTH_CLEAR_EVENT | side, local, local, float(levels[-1][0]), 0.0, 0, 0, 0.0))
                        rows.extend((DEPTH_SNAPSHOT_EVENT | side, local, local, float(p), float(q), 0, 0, 0.0)
                                    for p, q in levels)
                continue
            data = payload.get("data", payload)
            exch = int(data["E"]) * 1_000_000
            if data["e"] == "aggTrade":
                side = SELL_EVENT if data["m"] else BUY_EVENT  # buyer is the maker: a seller took
                rows.append((TRADE_EVENT | side, exch, local, float(data["p"]), float(data["q"]), 0, 0, 0.0))
                continue
            if data["e"] != "depthUpdate" or snapshot_id is None:
                continue
            first, u = int(data["U"]), int(data["u"])
            if last_u is None:
                if u <= snapshot_id:
                    continue  # older than the snapshot
                if not first <= snapshot_id + 1 <= u:
                    snapshot_id = None  # a gap right after the snapshot: wait for the next
                    continue
            elif first != last_u + 1:
                snapshot_id, last_u = None, None  # a gap: the book is stale until the next snapshot
                continue
            last_u = u
            rows.extend((DEPTH_EVENT | BUY_EVENT, exch, local, float(p), float(q), 0, 0, 0.0) for p, q in data["b"])
            rows.extend((DEPTH_EVENT | SELL_EVENT, exch, local, float(p), float(q), 0, 0, 0.0) for p, q in data["a"])
    events = np.array(rows, dtype=event_dtype)
    events = correct_local_timestamp(events, 0)
    events = correct_event_order(events, np.argsort(events["exch_ts"], kind="mergesort"),
                                 np.argsort(events["local_ts"], kind="mergesort"))
    np.savez_compressed(out, data=events)


def run(events: str, out: str) -> None:
    from hftbacktest import BacktestAsset, ROIVectorMarketDepthBacktest
    from numba import njit

    data = np.load(events)["data"]
    px = data["px"][data["px"] > 0]  # the range of interest of its price vector
    asset = (BacktestAsset().data([data]).linear_asset(1.0).constant_order_latency(10_000_000, 10_000_000)
             .risk_adverse_queue_model().no_partial_fill_exchange().trading_value_fee_model(0.0002, 0.001)
             .tick_size(0.01).lot_size(0.00001).roi_lb(float(px.min()) / 2).roi_ub(float(px.max()) * 2)
             .last_trades_capacity(0))
    hbt = ROIVectorMarketDepthBacktest([asset])

    @njit
    def strategy(hbt, tops):  # type: ignore[no-untyped-def]
        n = 0
        hbt.elapse(0)  # its clock starts at the first event (before: no time yet)
        start = hbt.current_timestamp
        first = (start // 1_000_000_000 + 1) * 1_000_000_000  # the end of the first whole second
        if hbt.elapse(first - start) != 0:
            return 0
        order_id = 0
        while n < len(tops):
            depth = hbt.depth(0)
            t = hbt.current_timestamp
            tops[n, 0] = t // 1_000_000_000 - 1  # the second that just ended
            tops[n, 1] = depth.best_bid
            tops[n, 2] = depth.best_ask
            n += 1
            if n % 60 == 0 and depth.best_bid > 0 and depth.best_ask > depth.best_bid:
                order_id += 1
                if order_id % 2:
                    hbt.submit_buy_order(0, order_id, depth.best_ask + 1.0, 0.01, 3, 0, False)  # IOC limit
                else:
                    hbt.submit_sell_order(0, order_id, depth.best_bid - 1.0, 0.01, 3, 0, False)
                hbt.clear_inactive_orders(0)
            if hbt.elapse(1_000_000_000) != 0:
                break
        return n

    seconds = int((data["local_ts"].max() - data["local_ts"].min()) // NS) + 2
    tops = np.zeros((seconds, 3), np.float64)
    n = strategy(hbt, tops)
    hbt.close()
    np.save(out, tops[:n])


if __name__ == "__main__":
    start = time.perf_counter()
    {"convert": convert, "run": run}[sys.argv[1]](sys.argv[2], sys.argv[3])
    print(f"{sys.argv[1]} {time.perf_counter() - start:.3f} s")
