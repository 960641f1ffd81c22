"""The simulator: deterministic, every venue's frames pass that venue's own parser, sync
rules and checksums, and the market looks like one market across venues."""

from __future__ import annotations

import hashlib
import math
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.capture import read_capture
from cobflow.config import load_symbols
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.connectors.simulator.to_file import simulate_to_file
from cobflow.connectors.verify import BookChecker, verify
from tests.simdata import ALL_VENUES, VENUES, sim


def test_every_venue_passes_its_parser_sync_rules_and_checksums():
    result = verify(sim())
    assert result.ok, [m.problems for m in result.markets if m.problems]
    markets = {(m.venue, m.market): m for m in result.markets if m.market != "-"}
    assert {v for v, _ in markets} == set(VENUES)
    assert len(markets) == 14
    for m in markets.values():
        assert m.synced and m.snapshots >= 1 and m.deltas > 50 and m.trades > 0, m
    for venue in ("kraken", "okx", "bitfinex"):  # the venues whose frames carry checksums
        for (v, _), m in markets.items():
            if v == venue:
                assert m.checksum_checks > 50 and m.checksum_failures == 0
    # the config's "kraken: BTC/USD" and the wire's "BTC/USD" both mean BTC-USD
    assert ("kraken", "BTC-USD") in markets


def test_same_seed_same_bytes_other_seed_other_market(tmp_path):
    a, b = list(sim(10.0, seed=3)), list(simulate(load_symbols(ALL_VENUES), SimConfig(seed=3, duration_s=10.0)))
    assert a == b
    assert list(sim(10.0, seed=4)) != a


def test_parallel_file_writer_gives_the_same_file_as_one_process(tmp_path):
    symbols = load_symbols(ALL_VENUES)
    cfg = SimConfig(seed=5, duration_s=15.0)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    n1 = simulate_to_file(symbols, cfg, one, workers=1)
    n2 = simulate_to_file(symbols, cfg, two, workers=2)
    assert n1 == n2 > 1000
    assert hashlib.sha256(one.read_bytes()).digest() == hashlib.sha256(two.read_bytes()).digest()
    assert list(read_capture(one)) == list(sim(15.0, seed=5))


def test_a_venue_alone_sees_the_same_market_as_with_the_others():
    alone = sim(10.0, seed=7, venues=("okx",))
    together = tuple(m for m in sim(10.0, seed=7) if m.exchange == "okx")
    assert alone == together


def test_ts_recv_order_and_one_tcp_stream_per_venue():
    msgs = sim()
    assert all(a.ts_recv <= b.ts_recv for a, b in zip(msgs, msgs[1:]))
    for venue in VENUES:
        ts = [m.ts_recv for m in msgs if m.exchange == venue]
        assert all(a < b for a, b in zip(ts, ts[1:])), venue


def test_venues_quote_one_market_with_their_own_spreads_and_ticks():
    """Mid prices agree across venues within a few bps; spreads are positive and differ."""
    checker = BookChecker()
    mids: dict[str, list[float]] = {}
    spreads: dict[str, list[float]] = {}
    for raw in sim():
        checker.feed(raw)
        if raw.symbol == "BTC-USD" or raw.symbol == "BTC-USDT":
            book = checker.books.get((raw.exchange, raw.symbol))
            if book is not None and book.synced and book.book.best_bid() and book.book.best_ask():
                bid, ask = book.book.best_bid()[0], book.book.best_ask()[0]
                mids.setdefault(raw.exchange, []).append((bid + ask) / 2)
                spreads.setdefault(raw.exchange, []).append((ask - bid) / ((bid + ask) / 2) * 1e4)
    assert set(mids) == set(VENUES)
    centre = statistics.median(statistics.median(v) for v in mids.values())
    assert 30_000 < centre < 130_000
    for venue, values in mids.items():
        assert abs(statistics.median(values) / centre - 1) < 10e-4, venue  # within 10 bps
        assert min(spreads[venue]) > 0
    assert len({round(statistics.median(s), 1) for s in spreads.values()}) >= 4


def test_the_fair_price_moves_with_bursts_and_jumps():
    """Over a simulated hour, 1-second log returns are fat-tailed (kurtosis > 3)."""
    import random

    from cobflow.connectors.simulator.engine import FairPrice

    fp = FairPrice(65_000.0, random.Random("t"), 0)
    prices = [fp.at(s * 1_000_000_000) for s in range(1, 3601)]
    rets = [math.log(b / a) for a, b in zip(prices, prices[1:])]
    mu = statistics.fmean(rets)
    var = statistics.fmean((r - mu) ** 2 for r in rets)
    kurt = statistics.fmean((r - mu) ** 4 for r in rets) / var**2
    assert kurt > 3.5
    assert 0.90 < prices[-1] / prices[0] < 1.10


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_books_are_never_crossed_and_hold_no_empty_levels(seed):
    checker = BookChecker()
    for raw in simulate(load_symbols(ALL_VENUES), SimConfig(seed=seed, duration_s=4.0)):
        assert checker.feed(raw) == []
        for book in checker.books.values():
            if book.synced:
                assert not book.book.crossed()
                assert all(q > 0 for q in book.book.bids.values())
                assert all(q > 0 for q in book.book.asks.values())


def crossed_seconds(config, seconds: float, seed: int, tmp_path) -> dict[str, tuple[float, int]]:
    """symbol -> (share of seconds crossed, the longest run of them), through `cobflow compute`."""
    import subprocess
    import sys

    import numpy as np
    import pyarrow.compute as pc

    from cobflow.capture import write_capture
    from cobflow.dataflows.sinks.parquet import read_table

    capture, out = tmp_path / f"sim{seed}.jsonl", tmp_path / f"out{seed}"
    write_capture(capture, simulate(load_symbols(config), SimConfig(seed=seed, duration_s=seconds, alpha=1.0)))
    proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(config), "compute", "--input", str(capture),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    t = read_table(out, "cob_summary")
    shares = {}
    for sym in sorted(set(t["symbol"].to_pylist())):
        crossed = np.array(t.filter(pc.equal(t["symbol"], sym)).sort_by("ts")["crossed"].to_pylist(), dtype=bool)
        longest = max((len(run) for run in "".join("x" if c else "." for c in crossed).split(".")), default=0)
        shares[sym] = (float(crossed.mean()), longest)
    return shares


def test_venue_bases_stay_within_their_spreads(tmp_path):
    """Every venue market's basis is at most 0.4 of its half-spread (one draw, as before: the
    rest of the market is unchanged)."""
    import random

    from cobflow.connectors.simulator.engine import BASIS_SHARE, DYNAMICS, basis

    for venue, dyn in DYNAMICS.items():
        draws = [basis(random.Random(f"{venue}:{i}"), None, dyn.half_spread_bps) for i in range(200)]
        assert max(abs(b) for b in draws) <= BASIS_SHARE * dyn.half_spread_bps / 1e4
        assert max(draws) > 0.8 * BASIS_SHARE * dyn.half_spread_bps / 1e4  # the whole range is used
        old = basis(random.Random(venue), 3.0, dyn.half_spread_bps)
        assert old == random.Random(venue).uniform(-3e-4, 3e-4)  # basis_bps=3: the draw of before


def test_the_converted_book_is_crossed_in_at_most_2_percent_of_seconds_never_over_3_s(tmp_path):
    """Issue 38's target, with quote conversion on: the demo's market (10 minutes) and the
    benchmark's two symbols on five venues each (5 minutes; the hour: bench/crossed.py)
    are crossed in at most 2% of seconds, no cross longer than 3 s (before: ETH-USD crossed
    in 93% of the demo's seconds; USDT books as quoted stand crossed for minutes)."""
    from cobflow.names import PROJECT_ROOT

    demo = crossed_seconds(PROJECT_ROOT / "symbols.yaml", 600, 1, tmp_path)
    bench = crossed_seconds(PROJECT_ROOT / "tests" / "data" / "cob_e2e.yaml", 300, 2, tmp_path)
    for name, shares in (("demo", demo), ("benchmark", bench)):
        assert set(shares) == {"BTC-USD", "ETH-USD"}
        for sym, (share, longest) in shares.items():
            assert share <= 0.02 and longest <= 3, (name, sym, share, longest)


def test_usdt_markets_quote_the_usd_price_at_one_slowly_moving_usdt_rate():
    """A USDT market's mid / a USD market's mid follows 1 / the USDT-USD market's mid (the rate
    the simulator publishes, sampled each second): within a bp, while the rate itself wanders
    bps away from 1 and moves little from one second to the next. usdt_bps=0: USDT = USD."""
    from cobflow.config import SymbolsConfig

    cfg = SymbolsConfig.model_validate({"symbols": {"BTC-USD": {
        "bucket": 10, "venues": {"binance": "BTC-USDT", "coinbase": "BTC-USD"},
        "quote": {"USDT": {"market": "coinbase:USDT-USD"}}}}})

    def per_second(usdt_bps: float) -> list[tuple[float, float, float]]:
        checker, out, second = BookChecker(), [], None
        for raw in simulate(cfg, SimConfig(seed=11, duration_s=300, usdt_bps=usdt_bps)):
            if second is not None and raw.ts_recv // 1_000_000_000 != second:
                mids = []
                for key in (("binance", "BTC-USDT"), ("coinbase", "BTC-USD"), ("coinbase", "USDT-USD")):
                    b = checker.books.get(key)
                    if b is None or not b.synced or not b.book.best_bid() or not b.book.best_ask():
                        break
                    mids.append((b.book.best_bid()[0] + b.book.best_ask()[0]) / 2)
                else:
                    out.append(tuple(mids))
            second = raw.ts_recv // 1_000_000_000
            assert checker.feed(raw) == []
        return out

    seconds = per_second(3.0)
    assert len(seconds) > 290
    gap = [usd / usdt * 1e4 - rate * 1e4 for usdt, usd, rate in seconds]  # bps: (USD / USDT) - rate
    assert abs(statistics.median(gap)) < 1.0
    rates = [rate for _, _, rate in seconds]
    assert max(abs(r - 1) for r in rates) > 1e-4  # more than a bp away from 1 at times
    assert max(abs(b - a) for a, b in zip(rates, rates[1:])) < 1.5e-4  # a tick or two a second
    flat = per_second(0.0)
    assert abs(statistics.median(usd / usdt - 1 for usdt, usd, _ in flat)) < 1e-4
    assert abs(statistics.median(rate for *_, rate in flat) - 1) < 1e-4


def _market(seed: str):
    import random

    from cobflow.connectors.simulator.book import MarketSpec
    from cobflow.connectors.simulator.engine import DYNAMICS, VenueMarket

    spec = MarketSpec("binance", "BTC-USDT", "BTCUSDT", 0.01, 2, 5, 100)
    vm = VenueMarket(spec, DYNAMICS["binance"], random.Random(seed), 0.0)
    vm.seed_book(65_000.0)
    return vm


def test_the_depth_signal_leans_the_levels_added_away_from_the_touch_and_leaves_the_takers_alone():
    """`--signal depth` (issue 34's second planted signal): with the latent trend up (tilt 1),
    takers buy half the time, as without a signal (the touch signal makes it 0.7), and the
    sizes added deeper lean to the bid, 1.8 to 0.2 before rounding and clipping."""
    for depth, buy_share in ((True, 0.5), (False, 0.7)):
        vm = _market("lean")
        trades, added = [], {"bid": [], "ask": []}
        for _ in range(20_000):  # a still fair price: the touch stays, every new deeper level is a random add
            before = {"bid": dict(vm.book.bids), "ask": dict(vm.book.asks)}
            changes, ts = vm.step(65_000.0, 0.5, tilt=1.0, depth=depth)
            trades += ts
            for side, tick, size in changes:
                if tick not in before[side] and size > 0 and abs(tick - (vm.best_bid if side == "bid" else
                                                                          vm.best_ask)) >= 5:
                    added[side].append(size)
        share = sum(t.side == "buy" for t in trades) / len(trades)
        assert abs(share - buy_share) < 0.03, (depth, share)
        lean = statistics.fmean(added["bid"]) / statistics.fmean(added["ask"])
        assert (lean > 3.0) if depth else (0.7 < lean < 1.4), (depth, lean)


def test_in_the_lead_lag_market_the_book_leads_and_the_past_returns_say_little():
    """`--lead 60 --trend-every 30`: the price follows the latent trend a minute late, so the
    planted signal (the trend shown now) predicts the next minute's return, and the last
    minute's return hardly does; in the default market (no lead, two-minute trends) the past
    return predicts it too (momentum)."""
    import random

    import numpy as np

    from cobflow.connectors.simulator.engine import FairPrice

    def corr(a, b):
        return float(np.corrcoef(a, b)[0, 1])

    for lead, every in ((60.0, 30.0), (0.0, 120.0)):
        fp = FairPrice(65_000.0, random.Random("lead"), 0, 1.0, every, lead)
        x, sig = [], []
        for s in range(1, 4 * 3600 + 1):
            x.append(math.log(fp.at(s * 1_000_000_000)))
            sig.append(fp.signal())
        x, sig = np.array(x), np.array(sig)
        t = np.arange(60, len(x) - 60, 10)
        past, future = x[t] - x[t - 60], x[t + 60] - x[t]
        shown = np.array([sig[i - 59:i + 1].mean() for i in t])  # the signal over the last minute (a model's window)
        if lead:
            assert corr(shown, future) > 0.45 and abs(corr(past, future)) < 0.2
        else:
            assert corr(past, future) > 0.15
