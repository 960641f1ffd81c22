"""`cobflow report` renders the four views from `cobflow compute`'s Parquet: images of the
stated size whose content shows what the data holds (bids and asks, a book that lost sync)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from cobflow.app.report import choose_timeframe, make_report
from cobflow.app.report.data import ParquetSource
from cobflow.app.report.render import HEIGHT, WIDTH
from cobflow.capture import write_capture
from cobflow.config import load_symbols
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.connectors.simulator.faults import truncate_frames
from tests.modeltools import seeded_checkpoints
from tests.unit.test_strategy import SPEC

CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
NS = 1_000_000_000


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> Path:
    """40 s of 2 symbols x 5 venues, one Binance frame cut short every 12 s, computed to Parquet
    by the strategy flow (seeded models with a 20 s window; every difference from the target
    traded, so the paper account fills from second 20 on)."""
    tmp = tmp_path_factory.mktemp("report")
    env = {**os.environ, "COBFLOW_MODELS__DIR": str(seeded_checkpoints(tmp / "models", SPEC)),
           "COBFLOW_TRADING__MIN_ORDER_NOTIONAL": "0"}
    capture = tmp / "sim.jsonl"
    symbols = load_symbols(CONFIG)
    write_capture(capture, truncate_frames(simulate(symbols, SimConfig(seed=5, duration_s=40, resnapshot_s=15)),
                                           "binance", 12.0))
    out = tmp / "pq"
    proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(CONFIG), "compute", "--strategy",
                           "--input", str(capture), "--output", str(out)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return out


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def share(img: np.ndarray, cond) -> float:
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return float(np.mean(cond(r, g, b)))


def test_report_from_parquet_has_the_six_views_with_their_content(computed, tmp_path):
    symbols = load_symbols(CONFIG)
    paths = make_report(ParquetSource(computed), symbols, "BTC-USD", None, None, tmp_path)
    assert [p.name for p in paths] == ["BTC-USD-heatmap.png", "BTC-USD-imbalance.png", "BTC-USD-candles.png",
                                       "BTC-USD-health.png", "BTC-USD-model-input.png", "BTC-USD-trading.png"]
    for p in paths:
        assert png_size(p) == (WIDTH, HEIGHT), p
    heat, imb, candles, health, model, _trading = (imread(p)[..., :3] for p in paths)
    strong_red = lambda r, g, b: (r > 0.7) & (b < 0.45) & (g < 0.5)  # noqa: E731
    strong_blue = lambda r, g, b: (b > 0.6) & (r < 0.45)  # noqa: E731
    # asks above the mid are red cells, bids below it blue cells: both cover a real area
    assert share(heat, strong_red) > 0.005 and share(heat, strong_blue) > 0.005
    # candles: rising bars green, falling bars red
    assert share(candles, lambda r, g, b: (g > 0.5) & (r < 0.3) & (b < 0.3)) > 0.001
    assert share(candles, strong_red) > 0.001
    assert share(health, lambda r, g, b: (g > 0.5) & (r < 0.3) & (b < 0.3)) > 0.05  # synced seconds
    # line plots draw on a white page: something other than white and grid is there
    assert share(imb, lambda r, g, b: (r + g + b) < 2.0) > 0.01
    # the models' heatmap: asks in reds, bids in blues, both over a real area
    assert share(model, strong_red) > 0.002 and share(model, strong_blue) > 0.002


def test_candles_show_the_confirmed_pivots_of_their_timeframe(computed, tmp_path):
    """1s candles of 40 s carry level-1 and level-2 pivots: drawn, the picture changes
    exactly by markers in the pivot colours (blue: level 2, gray: level 1)."""
    from cobflow.app.report.render import ReportSpec, candles
    from cobflow.dataflows.sinks.parquet import read_table

    src = ParquetSource(computed)
    pivots = read_table(computed, "pivots").to_pylist()
    assert {p["level"] for p in pivots if p["timeframe"] == "1s" and p["symbol"] == "BTC-USD"} >= {1, 2}
    ts = src.load("cob_summary", {"symbol": "BTC-USD"}, None, None)["ts"]
    spec = ReportSpec("BTC-USD", dict(load_symbols(CONFIG).symbols["BTC-USD"].venues), int(ts.min()),
                      int(ts.max()) + NS, "1s")
    with_pivots = imread(candles(src, spec, tmp_path / "a.png"))[..., :3]

    class NoPivots:
        def load(self, table, where, start, end):
            data = src.load(table, where, start, end)
            return {k: v[:0] for k, v in data.items()} if table == "pivots" else data

    without = imread(candles(NoPivots(), spec, tmp_path / "b.png"))[..., :3]  # type: ignore[arg-type]
    tab_blue = lambda r, g, b: (abs(r - 0.12) < 0.08) & (abs(g - 0.47) < 0.08) & (abs(b - 0.71) < 0.08)  # noqa: E731
    assert share(without, tab_blue) == 0 and share(with_pivots, tab_blue) * WIDTH * HEIGHT > 30  # pixels


def test_health_view_shows_red_exactly_where_a_book_lost_sync(computed, tmp_path):
    """The cut Binance frames break the sequence of whichever Binance market they belong to."""
    symbols = load_symbols(CONFIG)
    src = ParquetSource(computed)
    lost = {}
    for symbol, spec in symbols.symbols.items():
        h = src.load("book_health", {"venue": "binance", "market": spec.venues["binance"]}, None, None)
        lost[symbol] = bool((~h["synced"].astype(bool)).any())
    assert any(lost.values())
    for symbol, unsynced in lost.items():
        (path,) = [p for p in make_report(src, symbols, symbol, None, None, tmp_path) if p.name.endswith("health.png")]
        red = share(imread(path)[..., :3], lambda r, g, b: (r > 0.7) & (g < 0.3) & (b < 0.3))
        assert (red > 0.001) == unsynced, (symbol, red)


def test_report_range_and_unknown_symbol(computed, tmp_path):
    symbols = load_symbols(CONFIG)
    with pytest.raises(ValueError, match="not configured"):
        make_report(ParquetSource(computed), symbols, "DOGE-USD", None, None, tmp_path)
    with pytest.raises(ValueError, match="no cob_summary rows"):
        make_report(ParquetSource(computed), symbols, "BTC-USD", 0, NS, tmp_path)


def test_parquet_source_filters_and_counts_dead_letters(computed):
    src = ParquetSource(computed)
    rows = src.load("cob_buckets", {"symbol": "ETH-USD"}, None, None)
    assert set(rows["symbol"]) == {"ETH-USD"} and np.all(np.diff(rows["ts"]) >= 0)
    start = int(rows["ts"][0])
    first = src.load("cob_buckets", {"symbol": "ETH-USD"}, start, start + NS)
    assert len(first["ts"]) == 41 and set(first["ts"]) == {start}
    # 40 s, first cut at 10 s then every 12 s: cuts at 10, 22, 34 s -> 3 malformed frames;
    # each lost diff is also a sequence gap, counted by the book (book_health) as it happens
    gaps = sum(int(src.load("book_health", {"venue": "binance", "market": m}, None, None)["gaps"][-1])
               for m in ("BTC-USDT", "ETH-USDT"))
    assert gaps >= 1
    assert src.dead_letters({"binance"}, 0, 2**62) == 3 + gaps
    assert src.dead_letters({"okx", "coinbase"}, 0, 2**62) == 0
    first = int(src.load("cob_summary", {}, None, None)["ts"].min())
    assert src.dead_letters({"binance"}, 0, first + 9 * NS) == 0  # nothing before the first cut


def test_timeframe_gives_at_least_twenty_bars():
    assert choose_timeframe(60 * NS) == "1s"
    assert choose_timeframe(20 * 60 * NS) == "1m"
    assert choose_timeframe(19 * 60 * NS) == "1s"
    assert choose_timeframe(2 * 86400 * NS) == "1h"
    assert choose_timeframe(30 * 86400 * NS) == "1d"


def test_trading_view_draws_each_fill_by_side_on_the_mid(computed, tmp_path):
    """Drawn without its fills, the picture loses exactly the green (buy) and red (sell)
    markers; without any trading rows it says how to get them."""
    from cobflow.app.report.render import ReportSpec, trading
    from cobflow.dataflows.sinks.parquet import read_table

    src = ParquetSource(computed)
    fills = [f for f in read_table(computed, "fills").to_pylist() if f["symbol"] == "BTC-USD"]
    assert {f["side"] for f in fills} == {"buy", "sell"}
    ts = src.load("cob_summary", {"symbol": "BTC-USD"}, None, None)["ts"]
    spec = ReportSpec("BTC-USD", dict(load_symbols(CONFIG).symbols["BTC-USD"].venues), int(ts.min()),
                      int(ts.max()) + NS, "1s")

    class Without:
        def __init__(self, *tables):
            self.tables = tables

        def load(self, table, where, start, end):
            data = src.load(table, where, start, end)
            return {k: v[:0] for k, v in data.items()} if table in self.tables else data

    drawn = imread(trading(src, spec, tmp_path / "a.png"))[..., :3]
    bare = imread(trading(Without("fills"), spec, tmp_path / "b.png"))[..., :3]  # type: ignore[arg-type]
    green = lambda r, g, b: (abs(r - 0.17) < 0.08) & (abs(g - 0.63) < 0.08) & (abs(b - 0.17) < 0.08)  # noqa: E731
    red = lambda r, g, b: (abs(r - 0.84) < 0.08) & (abs(g - 0.15) < 0.08) & (abs(b - 0.16) < 0.08)  # noqa: E731
    for colour in (green, red):
        assert share(bare, colour) == 0 and share(drawn, colour) * WIDTH * HEIGHT > 20  # pixels
    empty = Without("equity", "fills", "positions", "risk_events")
    assert trading(empty, spec, tmp_path / "c.png") is None  # type: ignore[arg-type]  # no account: no picture
    assert not (tmp_path / "c.png").exists()


def test_a_report_without_an_account_has_no_trading_view_and_no_trips_no_page(computed, tmp_path):
    from cobflow.app.report.render import ReportSpec, render_all, round_trips_view

    src = ParquetSource(computed)

    class NoAccount:
        def __getattr__(self, name):  # everything else as the Parquet source has it
            return getattr(src, name)

        def load(self, table, where, start, end):
            data = src.load(table, where, start, end)
            return {k: v[:0] for k, v in data.items()} if table == "equity" else data

    ts = src.load("cob_summary", {"symbol": "ETH-USD"}, None, None)["ts"]
    spec = ReportSpec("ETH-USD", dict(load_symbols(CONFIG).symbols["ETH-USD"].venues), int(ts.min()),
                      int(ts.max()) + NS, "1s")
    names = [p.name for p in render_all(NoAccount(), spec, tmp_path)]  # type: ignore[arg-type]
    assert "ETH-USD-trading.png" not in names and len(names) == 5
    assert round_trips_view([], tmp_path / "trips.png") is None and not (tmp_path / "trips.png").exists()


def test_time_axes_say_the_date_and_utc():
    import matplotlib.dates as mdates

    from cobflow.app.report.render import time_axis

    day = mdates.date2num(np.datetime64("2026-12-06T10:00:00"))
    assert time_axis(day, day + 0.1) == ("%H:%M:%S", "time (UTC) on 2026-12-06")
    assert time_axis(day, day + 1) == ("%m-%d %H:%M", "time (UTC), 2026-12-06 to 2026-12-07")


def test_trading_view_legends_sit_outside_the_data_and_the_position_axis_holds_zero(computed, tmp_path,
                                                                                  monkeypatch):
    """The figure as drawn (caught at savefig): every legend right of its axes, the time axis
    labelled with the date and UTC, and 0 inside the position axis."""
    from matplotlib.figure import Figure

    from cobflow.app.report.render import ReportSpec, trading

    drawn = []
    save = Figure.savefig

    def catch(self, *args, **kw):
        drawn.append(self)
        return save(self, *args, **kw)

    monkeypatch.setattr(Figure, "savefig", catch)
    src = ParquetSource(computed)
    ts = src.load("cob_summary", {"symbol": "BTC-USD"}, None, None)["ts"]
    spec = ReportSpec("BTC-USD", dict(load_symbols(CONFIG).symbols["BTC-USD"].venues), int(ts.min()),
                      int(ts.max()) + NS, "1s")
    trading(src, spec, tmp_path / "t.png")
    [fig] = drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend() is not None]
    assert len(legends) >= 3
    for ax, legend in legends:
        assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    position = next(ax for ax in fig.axes if ax.get_ylabel() == "position")
    low, high = position.get_ylim()
    assert low <= 0 <= high
    day = np.datetime64(int(ts.min()), "ns").astype("datetime64[D]")
    assert position.get_xlabel() == f"time (UTC) on {day}"
