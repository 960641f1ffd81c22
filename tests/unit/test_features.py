"""Data quality on crafted inputs, nothing from the future (cut or change the input after a
random second S: no value available at S moves), the vectors' layout, the heatmap, and the
features recomputed from stored rows equal to the flow's on a simulated hour with gaps and
resyncs."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import orjson
import pytest

from cobflow.config import SymbolsConfig
from cobflow.metrics.quality import passes
from cobflow.metrics.trades import TIMEFRAMES
from cobflow.metrics.vectors import CNN_LAYOUT, LAYOUT, RL_LAYOUT, LayoutMismatch, check_layout, heatmap
from cobflow.raw import RawMessage
from tests.rowtools import plain, run_cob
from tests.simdata import sim

S = 1_000_000_000
T0 = 1_000
TWO = SymbolsConfig.model_validate(
    {"symbols": {"TEST-USD": {"bucket": 1, "venues": {"binance": "AAA-USDT", "bybit": "AAA-USDT"}}}})


def at(seconds: float) -> int:
    return round(seconds * S)


def binance_snapshot(t, last):
    return RawMessage(at(t), "binance", "rest", "snapshot", "AAA-USDT",
                      orjson.dumps({"lastUpdateId": last, "bids": [["100", "1"]], "asks": [["101", "2"]]}).decode())


def binance_diff(t, first, last, price="100.2"):
    d = {"e": "depthUpdate", "E": 1, "s": "AAAUSDT", "U": first, "u": last, "b": [[price, "1"]], "a": []}
    return RawMessage(at(t), "binance", "ws", "depth@100ms", "AAA-USDT", orjson.dumps(d).decode())


def bybit(t, kind, u, b=(), a=()):
    d = {"topic": "orderbook.50.AAAUSDT", "type": kind, "ts": 1,
         "data": {"s": "AAAUSDT", "b": list(b), "a": list(a), "u": u, "seq": u}}
    return RawMessage(at(t), "bybit", "ws", "orderbook.50", "AAA-USDT", orjson.dumps(d).decode())


def quality_by_second(messages):
    rows, _ = run_cob(messages, TWO)
    return {r.ts // S - T0: r.columns for r in rows if r.table == "data_quality"}


def binance_every_second(seconds: int, gap_at: int | None = None):
    """A snapshot, then a diff at .5 of every second (a sequence gap at `gap_at`)."""
    msgs = [binance_snapshot(T0 + 0.1, 10)]
    u = 10
    for s in range(seconds):
        first = u + (2 if s == gap_at else 1)
        msgs.append(binance_diff(T0 + s + 0.5, first, first))
        u = first
    return msgs


def test_a_venue_unsynced_halves_completeness_not_freshness():
    msgs = binance_every_second(4, gap_at=2) + [bybit(T0 + 0.2, "snapshot", 5, b=[["100.5", "3"]], a=[["101.5", "1"]])]
    msgs += [bybit(T0 + s + 0.3, "delta", 5 + s, b=[["100.5", str(3 + s)]]) for s in range(1, 4)]
    q = quality_by_second(sorted(msgs, key=lambda m: m.ts_recv))
    assert q[1] == {"completeness": 1.0, "freshness": 1.0, "quality": 1.0, "synced": 2, "fresh": 2, "configured": 2}
    assert q[2]["completeness"] == 0.5 and q[2]["freshness"] == 1.0 and q[2]["quality"] == 0.5
    assert passes(q[2]["quality"], 0.5) and not passes(q[2]["quality"], 0.6)


def test_a_venue_silent_for_six_seconds_goes_stale_after_five():
    # bybit speaks at T0+0.2, then not until T0+7.5; binance every second for 9 s
    msgs = binance_every_second(9) + [bybit(T0 + 0.2, "snapshot", 5, b=[["100.5", "3"]], a=[["101.5", "1"]]),
                                      bybit(T0 + 7.5, "delta", 6, b=[["100.5", "4"]])]
    q = quality_by_second(sorted(msgs, key=lambda m: m.ts_recv))
    # second S counts messages in [S + 1 - 5, S + 1): 0.2 is in it up to S = 4; 7.5 from S = 7 on
    # (the seconds 5 and 6 close only once 7.5 has arrived: it must not count for them)
    assert [q[s]["freshness"] for s in range(9)] == [1.0] * 5 + [0.5] * 2 + [1.0] * 2
    assert [q[s]["completeness"] for s in range(9)] == [1.0] * 9  # silent, still synced
    assert q[6]["quality"] == 0.5


def test_unsynced_and_silent_at_once_multiply():
    msgs = binance_every_second(8, gap_at=1) + [bybit(T0 + 0.2, "snapshot", 5, b=[["100.5", "3"]], a=[["101.5", "1"]])]
    q = quality_by_second(sorted(msgs, key=lambda m: m.ts_recv))
    assert q[6] == {"completeness": 0.5, "freshness": 0.5, "quality": 0.25, "synced": 1, "fresh": 1, "configured": 2}
    assert not passes(q[6]["quality"])  # below the default min_quality 0.5


# -- nothing from the future -----------------------------------------------------------------
SIM_SYMBOLS = SymbolsConfig.model_validate({"symbols": {
    "BTC-USD": {"bucket": 10, "venues": {"binance": "BTC-USDT", "kraken": "BTC-USD", "okx": "BTC-USDT"}},
    "ETH-USD": {"bucket": "2bps", "venues": {"coinbase": "ETH-USD", "bybit": "ETH-USDT"}}}})
SIM_VENUES = ("binance", "kraken", "okx", "coinbase", "bybit")


def known_at(rows, s: int) -> list[tuple]:
    """Every feature, indicator, pivot and quality value a reader may use at second s."""
    out = []
    for r in rows:
        if r.table in ("features", "data_quality") and r.ts // S <= s:
            out.append(plain(r))
        elif r.table == "indicators" and r.ts // S + TIMEFRAMES[r.symbols["timeframe"]] <= s + 1:
            out.append(plain(r))
        elif r.table == "pivots" and r.columns["confirmed_ts"] <= (s + 1) * S:
            out.append(plain(r))
    return sorted(out, key=repr)


CUTS = sorted(random.Random(2026).sample(range(40, 170), 3))


def silence_before(msgs, cuts, venue="kraken"):
    """`venue` silent for 8 s up to each cut and 2 s after it: freshness falls just before S
    and comes back after, where a value that peeked past S would see it back already."""
    start = msgs[0].ts_recv // S
    quiet = [((start + c - 7) * S, (start + c + 3) * S) for c in cuts]
    return tuple(m for m in msgs if m.exchange != venue or not any(a <= m.ts_recv < b for a, b in quiet))


@pytest.fixture(scope="module")
def market():
    msgs = silence_before(sim(180.0, seed=31, venues=SIM_VENUES), CUTS)
    other = sim(180.0, seed=32, venues=SIM_VENUES)  # another market: "changed" messages after S
    full, _ = run_cob(msgs, SIM_SYMBOLS)
    return msgs, other, full


@pytest.mark.parametrize("cut", CUTS)
def test_deleting_or_changing_every_message_after_a_second_changes_nothing_known_at_it(market, cut):
    msgs, other, full = market
    start = msgs[0].ts_recv // S
    s = start + cut
    end = (s + 1) * S
    deleted, _ = run_cob([m for m in msgs if m.ts_recv < end], SIM_SYMBOLS)
    changed, _ = run_cob([m for m in msgs if m.ts_recv < end] + [m for m in other if m.ts_recv >= end], SIM_SYMBOLS)
    want = known_at(full, s)
    assert {r[0] for r in want} == {"features", "data_quality", "indicators", "pivots"}
    stale = [r for r in full if r.table == "data_quality" and r.ts // S == s]
    assert [r.columns["fresh"] for r in stale] == [2, 2]  # kraken silent since S - 7: BTC has 2 of 3
    assert known_at(deleted, s) == want
    assert known_at(changed, s) == want
    # and the input after S does matter: the full run knows more one minute later
    assert len(known_at(full, s + 60)) > len(want)


# -- the vectors ---------------------------------------------------------------------------------
def test_vectors_have_the_documented_sizes_every_value_finite(market):
    _, _, full = market
    feats = [r for r in full if r.table == "features"]
    summaries = [r for r in full if r.table == "cob_summary"]
    assert len(feats) == len(summaries) > 300
    assert (len(CNN_LAYOUT), len(RL_LAYOUT)) == (220, 30)
    assert len({n for n, _ in CNN_LAYOUT}) == 220 and len({n for n, _ in RL_LAYOUT}) == 30
    cnn = np.stack([r.columns["cnn"] for r in feats])
    rl = np.stack([r.columns["rl"] for r in feats])
    assert cnn.shape[1] == 220 and rl.shape[1] == 30
    assert np.isfinite(cnn).all() and np.isfinite(rl).all()
    assert all(r.symbols["layout"] == LAYOUT for r in feats)
    # values a reader can check by hand against the second's own rows
    by_key = {(r.symbols["symbol"], r.ts): r.columns for r in summaries}
    names = [n for n, _ in CNN_LAYOUT]
    for r in feats[::50]:
        summ = by_key[(r.symbols["symbol"], r.ts)]
        v = r.columns["cnn"]
        assert v[names.index("spread_bps")] == pytest.approx(summ["spread_bps"])
        assert v[names.index("li_ma_15")] == pytest.approx(summ["li_ma_15"])
        buckets = {b.columns["offset"]: b.columns for b in full if b.table == "cob_buckets"
                   and b.ts == r.ts and b.symbols["symbol"] == r.symbols["symbol"]}
        total = sum(b["bid_qty"] + b["ask_qty"] for b in buckets.values())
        assert v[names.index("bid_0_share")] == pytest.approx(buckets[0]["bid_qty"] / total)
        assert v[names.index("bid_3_share")] == pytest.approx(buckets[-3]["bid_qty"] / total)
        assert v[names.index("ask_7_share")] == pytest.approx(buckets[7]["ask_qty"] / total)
        assert r.columns["rl"][RL_LAYOUT.index(("imbalance_m1", "cob_buckets.imbalance at offset -1"))] == \
            pytest.approx(buckets[-1]["imbalance"])


def test_a_checkpoint_of_another_layout_is_refused_with_what_to_do():
    check_layout(LAYOUT, "checkpoint x")
    with pytest.raises(LayoutMismatch, match=r"layout 'v0'.*retrain"):
        check_layout("v0", "checkpoint x")


def test_the_heatmap_places_each_second_and_leaves_missing_ones_at_zero():
    seconds = np.array([95, 97, 100, 200])  # 200: after the window's end, left out
    bid = np.arange(4 * 41, dtype=float).reshape(4, 41)
    ask = -bid
    h = heatmap(seconds, bid, ask, end_s=100, length=10)
    assert h.shape == (2, 10, 41)
    assert (h[0, 4] == bid[0]).all() and (h[0, 6] == bid[1]).all() and (h[0, 9] == bid[2]).all()
    assert (h[1, 9] == ask[2]).all()
    assert (h[0, [0, 1, 2, 3, 5, 7, 8]] == 0).all()


# -- recomputed from stored rows: the flow's values, value for value ---------------------------
E2E = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"


def test_features_recomputed_from_parquet_equal_the_flows_on_an_hour_with_gaps_and_resyncs(tmp_path):
    from cobflow.app.compute import compute
    from cobflow.app.recompute import read_parquet, recompute
    from cobflow.capture import read_capture, write_capture
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file
    from cobflow.dataflows.sinks.parquet import read_table

    symbols = load_symbols(E2E)
    clean = tmp_path / "clean.jsonl"  # plain: gzip would add half a minute
    simulate_to_file(symbols, SimConfig(seed=5, duration_s=3600, resnapshot_s=120), clean)
    msgs = list(read_capture(clean))
    start = msgs[0].ts_recv // S
    diffs = [i for i, m in enumerate(msgs) if m.exchange in ("binance", "okx") and "depth" in m.channel
             or m.exchange == "okx" and m.channel.startswith("books") and '"update"' in m.payload[:200]]
    drop = set(diffs[len(diffs) // 7::len(diffs) // 6])  # a few deltas lost: gaps, then resyncs
    silent = range((start + 1500) * S, (start + 1530) * S)  # kraken silent for 30 s: stale
    hole = range((start + 2400) * S, (start + 2420) * S)  # nothing at all for 20 s
    kept = [m for i, m in enumerate(msgs) if i not in drop and not (m.exchange == "kraken" and m.ts_recv in silent)
            and m.ts_recv not in hole]
    capture = tmp_path / "hour.jsonl"
    write_capture(capture, kept)
    out = tmp_path / "flow"
    settings = load_settings(symbols_file=E2E)
    compute(settings, capture, out, progress=False)
    health = read_table(out, "book_health").to_pylist()
    assert max(h["gaps"] for h in health) > 0 and max(h["resyncs"] for h in health) > 0
    quality = [q["quality"] for q in read_table(out, "data_quality").to_pylist()]
    assert min(quality) < 1.0 and max(quality) == 1.0

    re = tmp_path / "recomputed"
    recompute(read_parquet(out), symbols, re, progress=False)
    for name in ("indicators", "pivots", "features"):
        flow = read_table(out, name).to_pylist()
        again = read_table(re, name).to_pylist()
        assert len(flow) == len(again) > 0, name
        key = lambda r: repr(sorted((k, str(v)) for k, v in r.items()))  # noqa: E731 - exact, floats by repr
        assert sorted(map(key, flow)) == sorted(map(key, again)), name


def test_the_docs_document_the_layout_the_code_computes():
    from cobflow.config import PROJECT_ROOT
    from cobflow.metrics.vectors import layout_markdown

    assert layout_markdown() in (PROJECT_ROOT / "docs" / "features.md").read_text(), \
        "docs/features.md's layout table is out of date: paste cobflow.metrics.vectors.layout_markdown()"


def test_cobflow_features_from_t_keeps_the_later_rows_with_the_values_of_the_whole_run(tmp_path):
    """--from drops the output before T; the rows before T still warm up the indicators and
    windows, so what is kept equals the flow's rows from T on."""
    import subprocess
    import sys

    from cobflow.capture import write_capture
    from cobflow.dataflows.sinks.parquet import read_table

    capture = tmp_path / "sim.jsonl"
    msgs = sim(90.0, seed=8, venues=("binance", "coinbase"))
    write_capture(capture, msgs)
    cfg = tmp_path / "symbols.yaml"
    cfg.write_text("symbols:\n  BTC-USD:\n    bucket: 10\n    venues: {binance: BTC-USDT, coinbase: BTC-USD}\n")
    run = lambda *a: subprocess.run([sys.executable, "-m", "cobflow", "--config", str(cfg), *a],  # noqa: E731
                                    capture_output=True, text=True)
    assert run("compute", "--input", str(capture), "--output", str(tmp_path / "flow")).returncode == 0
    t = (msgs[0].ts_recv // S + 60) * S
    done = run("features", "--input", str(tmp_path / "flow"), "--output", str(tmp_path / "re"), "--from", str(t), "-q")
    assert done.returncode == 0, done.stderr
    for name in ("indicators", "features"):
        want = [r for r in read_table(tmp_path / "flow", name).to_pylist() if round(r["ts"].timestamp()) * S >= t]
        got = read_table(tmp_path / "re", name).to_pylist()
        assert 0 < len(got) == len(want), name
        key = lambda r: repr(sorted((k, str(v)) for k, v in r.items()))  # noqa: E731
        assert sorted(map(key, got)) == sorted(map(key, want)), name
    bad = run("features", "--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "no such folder" in bad.stderr
    backwards = run("features", "--input", str(tmp_path / "flow"), "--output", str(tmp_path / "x"),
                    "--from", str(t), "--to", str(t - S))
    assert backwards.returncode == 2 and "is not before" in backwards.stderr


def test_rows_after_the_last_whole_second_are_left_alone():
    """At a finite input's end (and again when a flow resumes there from its recovery store)
    the consolidated book shows its still-open bars after the last second's rows, outside any
    second: the features step skips them (it raised KeyError on them)."""
    from cobflow.metrics.trades import Bar
    from cobflow.operators.features import FeatureLogic
    from cobflow.records import CobSecond, FeatureSecond, OpenBars, Quality, Seconds

    cfg = SymbolsConfig.model_validate({"symbols": {"BTC-USD": {"bucket": 10, "venues": {"binance": "BTC-USDT"}}}})
    logic = FeatureLogic(None, cfg)
    s = 1_700_000_000
    second = CobSecond("BTC-USD", s, Quality(1.0, 1.0, 1.0, 1, 1, 1))
    still_open = OpenBars("BTC-USD", (Bar(s, "ALL", "1m", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1, 1.0),))
    [out], _ = logic.on_batch([Seconds([second], open_bars=[still_open])])
    [made] = out.records
    assert type(made) is FeatureSecond and made.indicators == () and list(out.open_bars) == [still_open]
    assert all(len(series) == 0 for series in logic.state.indicators.values())
