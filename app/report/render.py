"""The four report images: book heatmap with the mid, imbalance averages, candles with volume,
pipeline health. Sizes are fixed (WIDTH x HEIGHT pixels) so they can be laid out and compared."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.figure import Figure

from cobflow.app.report.data import ReportSource
from cobflow.metrics.vectors import HEATMAP_SECONDS
from cobflow.metrics.vectors import heatmap as heatmap_array

WIDTH, HEIGHT, DPI = 1600, 900, 100
NS = 1_000_000_000
TIMEFRAME_S = {"1s": 1, "1m": 60, "1h": 3600, "1d": 86400}


@dataclass(frozen=True)
class ReportSpec:
    symbol: str
    venue_markets: dict[str, str]  # venue -> market, from symbols.yaml
    start: int  # ns, inclusive
    end: int  # ns, exclusive
    timeframe: str
    run: str = "paper"  # the account's run (the `run` tag of RUN_TABLES)


def _times(ts: np.ndarray) -> np.ndarray:
    return (ts // 1000).astype("datetime64[us]")


def _figure(rows: int = 1, ratios: list[int] | None = None, sharex: bool = True):
    # A Figure without pyplot draws into files through Agg: no display, no global figure list.
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    axes = fig.subplots(rows, 1, sharex=sharex, gridspec_kw={"height_ratios": ratios} if ratios else None,
                        squeeze=False)
    return fig, list(axes[:, 0])


def time_axis(start: float, end: float) -> tuple[str, str]:
    """(tick format, axis label) of a time axis over matplotlib date numbers [start, end]:
    the date and UTC are always said, in the label when the range is within one day."""
    first, last = mdates.num2date(start), mdates.num2date(end)
    if first.date() == last.date():
        return "%H:%M:%S", f"time (UTC) on {first:%Y-%m-%d}"
    return "%m-%d %H:%M", f"time (UTC), {first:%Y-%m-%d} to {last:%Y-%m-%d}"


def _legend(ax, twin: bool = False, lower: bool = False) -> None:
    """The legend outside the data, right of the axes (past a twin axis' labels; `lower`:
    at the bottom of that margin, under another legend)."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="lower left" if lower else "upper left", borderaxespad=0, fontsize=8, frameon=False,
                  bbox_to_anchor=(1.08 if twin else 1.01, 0 if lower else 1))


def _finish(fig, axes, title: str, path: Path, right: float | None = 0.84) -> Path:
    """Grid, time axes with the date and UTC, the title; `right`: the axes' right edge (the
    margin holds the legends)."""
    if right is not None:
        fig.subplots_adjust(right=right)
    for ax in axes:
        ax.grid(alpha=0.3)
        lo, hi = ax.dataLim.intervalx  # the data's range: the view's margins may cross midnight
        fmt, label = time_axis(*((lo, hi) if np.isfinite([lo, hi]).all() and hi >= lo else ax.get_xlim()))
        ax.xaxis.set_major_formatter(mdates.DateFormatter(fmt))
        if ax is axes[-1] or not ax.get_shared_x_axes().joined(ax, axes[-1]):
            ax.set_xlabel(label)
    fig.suptitle(title)
    fig.savefig(path, dpi=DPI)  # no bbox="tight": keep the fixed size
    return path


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this range", ha="center", va="center", transform=ax.transAxes)


def heatmap(src: ReportSource, spec: ReportSpec, path: Path) -> Path:
    """Ask minus bid quantity per price bucket and second, at the buckets' own prices, with the
    mid and microprice over it."""
    b = src.load("cob_buckets", {"symbol": spec.symbol}, spec.start, spec.end)
    s = src.load("cob_summary", {"symbol": spec.symbol}, spec.start, spec.end)
    fig, (ax,) = _figure()
    if len(b["ts"]) == 0:
        _empty(ax, "consolidated book")
        return _finish(fig, [ax], f"{spec.symbol} consolidated book", path)
    seconds = np.unique(b["ts"])
    n = len(seconds)
    order = np.lexsort((b["offset"], b["ts"]))
    per = len(order) // n
    price = b["price"][order].reshape(n, per).astype(float)
    value = (b["ask_qty"][order] - b["bid_qty"][order]).reshape(n, per).astype(float)
    # One price grid for the whole picture (the bucket size; its median for bps buckets), so
    # each second is a straight column of cells even as the buckets move with the mid.
    step = float(np.median(np.diff(price, axis=1)))
    low = price.min()
    rows = np.rint((price - low) / step).astype(int)
    grid = np.full((rows.max() + 1, n), np.nan)
    grid[rows, np.arange(n)[:, None]] = value
    t = mdates.date2num(_times(np.append(seconds, seconds[-1] + NS)))
    y = low - step / 2 + step * np.arange(rows.max() + 2)
    lim = float(np.nanmax(np.abs(value))) or 1.0
    mesh = ax.pcolormesh(t, y, grid, cmap="RdBu_r", norm=TwoSlopeNorm(0, -lim, lim), shading="flat")
    fig.colorbar(mesh, ax=ax, label="ask qty (red) - bid qty (blue)")
    if len(s["ts"]):
        mid_t = _times(s["ts"] + NS // 2)
        ax.plot(mid_t, s["mid"].astype(float), color="black", lw=1.2, label="mid")
        ax.plot(mid_t, s["microprice"].astype(float), color="gold", lw=0.8, label="microprice")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False)
    ax.set_ylabel("price")
    return _finish(fig, [ax], f"{spec.symbol} consolidated book: liquidity per price bucket, each second", path,
                   right=None)


def imbalance(src: ReportSource, spec: ReportSpec, path: Path) -> Path:
    ma = src.load("imbalance_ma", {"symbol": spec.symbol}, spec.start, spec.end)
    s = src.load("cob_summary", {"symbol": spec.symbol}, spec.start, spec.end)
    fig, axes = _figure(2)
    center = ma["offset"] == 0 if len(ma["ts"]) else np.zeros(0, bool)
    for ax, data, cols, title in (
        (axes[0], {k: v[center] for k, v in ma.items()}, ("ma_1", "ma_5", "ma_15", "ma_60"),
         "imbalance of the mid's bucket (offset 0), moving averages"),
        (axes[1], s, ("liquidity_imbalance", "li_ma_5", "li_ma_15", "li_ma_60"),
         "whole-book liquidity imbalance and its moving averages"),
    ):
        if len(data["ts"]) == 0:
            _empty(ax, "rows")
            continue
        t = _times(data["ts"])
        for c in cols:
            ax.plot(t, data[c].astype(float), lw=1, label=c)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(title, fontsize=10)
        _legend(ax)
    return _finish(fig, axes, f"{spec.symbol} bid/ask imbalance", path)


def candles(src: ReportSource, spec: ReportSpec, path: Path) -> Path:
    bars = src.load("ohlcv", {"symbol": spec.symbol, "venue": "ALL", "timeframe": spec.timeframe},
                    spec.start, spec.end)
    fig, (ax, vol) = _figure(2, [3, 1])
    if len(bars["ts"]) == 0:
        _empty(ax, f"{spec.timeframe} bars")
        return _finish(fig, [ax, vol], f"{spec.symbol} {spec.timeframe} candles, all venues", path)
    x = mdates.date2num(_times(bars["ts"] + TIMEFRAME_S[spec.timeframe] * NS // 2))
    width = TIMEFRAME_S[spec.timeframe] / 86400 * 0.7
    o, h, low, c = (bars[k].astype(float) for k in ("open", "high", "low", "close"))
    up = c >= o
    colors = np.where(up, "tab:green", "tab:red")
    ax.vlines(x, low, h, colors=colors, lw=1)
    ax.bar(x, np.maximum(np.abs(c - o), (h - low).max() * 1e-3), width, np.minimum(o, c), color=colors)
    ax.xaxis_date()
    ax.set_ylabel("price")
    buy, sell = bars["buy_volume"].astype(float), bars["sell_volume"].astype(float)
    vol.bar(x, buy, width, color="tab:green", label="buy (aggressor)")
    vol.bar(x, -sell, width, color="tab:red", label="sell (aggressor)")
    vol.axhline(0, color="grey", lw=0.8)
    vol.set_ylabel("volume")
    _legend(vol)
    _pivots(src, spec, ax)
    return _finish(fig, [ax, vol], f"{spec.symbol} {spec.timeframe} candles, volume and pivots, all venues", path)


PIVOT_COLORS = ("tab:gray", "tab:blue", "tab:purple", "tab:orange", "black")


def _pivots(src: ReportSource, spec: ReportSpec, ax) -> None:
    """Confirmed pivots at their bars: highs above (v), lows below (^), one colour per level."""
    p = src.load("pivots", {"symbol": spec.symbol, "timeframe": spec.timeframe}, spec.start, spec.end)
    if len(p["ts"]) == 0:
        return
    x = mdates.date2num(_times(p["ts"] + TIMEFRAME_S[spec.timeframe] * NS // 2))
    level, price, kind = p["level"].astype(int), p["price"].astype(float), p["kind"].astype(str)
    for lv in range(1, 6):
        for k, marker in (("high", "v"), ("low", "^")):
            m = (level == lv) & (kind == k)
            if m.any():
                ax.scatter(x[m], price[m], marker=marker, s=12 + 14 * lv, color=PIVOT_COLORS[lv - 1],
                           zorder=3, label=f"pivot L{lv} {k}")
    _legend(ax)


def book_input(src: ReportSource, spec: ReportSpec, path: Path) -> Path:
    """What the models read: the last 300 s x 41 buckets of bid and ask quantity, drawn from
    the array `cobflow.metrics.vectors.heatmap` makes (the models' own function)."""
    end_s = (spec.end - 1) // NS
    first = max(spec.start, (end_s - HEATMAP_SECONDS + 1) * NS)
    b = src.load("cob_buckets", {"symbol": spec.symbol}, first, spec.end)
    fig, axes = _figure(2)
    if len(b["ts"]) == 0:
        for ax in axes:
            _empty(ax, "consolidated book")
        return _finish(fig, axes, f"{spec.symbol} model input", path)
    order = np.lexsort((b["offset"], b["ts"]))
    seconds = np.unique(b["ts"]) // NS
    bid = b["bid_qty"][order].astype(float).reshape(len(seconds), -1)
    ask = b["ask_qty"][order].astype(float).reshape(len(seconds), -1)
    array = heatmap_array(seconds, bid, ask, end_s)
    t = mdates.date2num(_times(np.array([(end_s - HEATMAP_SECONDS + 1) * NS, (end_s + 1) * NS])))
    for ax, side, data, cmap in ((axes[0], "ask", array[1], "Reds"), (axes[1], "bid", array[0], "Blues")):
        im = ax.imshow(data.T, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest",
                       extent=(t[0], t[1], -20.5, 20.5))
        fig.colorbar(im, ax=ax, label=f"{side} qty")
        ax.set_ylabel("bucket offset")
        ax.set_title(f"{side} quantity per bucket offset (-20..20 around the mid's bucket)", fontsize=10)
        ax.xaxis_date()
    return _finish(fig, axes, f"{spec.symbol} model input: the last {HEATMAP_SECONDS} s x 41 buckets", path,
                   right=None)


def health(src: ReportSource, spec: ReportSpec, path: Path) -> Path:
    fig, (ax, qual, tab) = _figure(3, [2, 1, 1], sharex=False)
    fig.subplots_adjust(hspace=0.45)
    q = src.load("data_quality", {"symbol": spec.symbol}, spec.start, spec.end)
    if len(q["ts"]):
        for col, style in (("quality", "-"), ("completeness", "--"), ("freshness", ":")):
            qual.plot(_times(q["ts"]), q[col].astype(float), style, lw=1.2, label=col)
        qual.axhline(0.5, color="tab:red", lw=0.8, label="min_quality")
        qual.set_ylim(-0.05, 1.05)
        _legend(qual)
        qual.set_title("data quality: completeness x freshness", fontsize=10)
    else:
        _empty(qual, "data quality rows")
    tab.axis("off")
    rows, labels, counters = [], [], []
    grid_t = None
    for venue, market in sorted(spec.venue_markets.items()):
        h = src.load("book_health", {"venue": venue, "market": market}, spec.start, spec.end)
        if len(h["ts"]) == 0:
            continue
        if grid_t is None:
            grid_t = np.arange(spec_start(h["ts"], spec), spec_end(h["ts"], spec) + NS, NS)
        state = np.full(len(grid_t), np.nan)
        idx = np.clip((h["ts"] - grid_t[0]) // NS, 0, len(grid_t) - 1).astype(int)
        state[idx] = h["synced"].astype(float)
        rows.append(state)
        labels.append(f"{venue} {market}")
        last = {k: int(h[k][-1]) for k in ("gaps", "resyncs", "checksum_failures", "malformed", "updates")}
        counters.append([f"{venue} {market}", *map(str, last.values())])
    if not rows:
        _empty(ax, "book health rows")
    else:
        extent = (*mdates.date2num(_times(np.array([grid_t[0], grid_t[-1] + NS]))), len(rows), 0)
        ax.imshow(np.array(rows), aspect="auto", interpolation="nearest", extent=extent,
                  cmap=ListedColormap(["tab:red", "tab:green"]), vmin=0, vmax=1)
        ax.set_yticks(np.arange(len(rows)) + 0.5, labels)
        ax.set_title("book in sync each second (green) or not (red)", fontsize=10)
        ax.xaxis_date()
        dead = src.dead_letters(set(spec.venue_markets), spec.start, spec.end)
        table = tab.table(cellText=counters, loc="center",
                          colLabels=["venue market", "gaps", "resyncs", "checksum failures", "malformed", "updates"])
        table.scale(1, 1.4)
        tab.set_title(f"counters at the end of the range; dead letters in range: {dead}", fontsize=10)
    return _finish(fig, [ax, qual], f"{spec.symbol} pipeline health", path)


VENUE_MARKERS = ("o", "s", "D", "P", "X", "*", "h")


def trading(src: ReportSource, spec: ReportSpec, path: Path) -> Path | None:
    """The Trading dashboard's views: equity and drawdown (the account), the symbol's fills on
    its mid (side by colour, venue by marker), its position, fees and the risk events. None
    (no picture) without an account in the range: the strategy flow did not run."""
    e = src.load("equity", {"run": spec.run}, spec.start, spec.end)
    if len(e["ts"]) == 0:
        return None
    fig, (eq, price, pos) = _figure(3, [2, 3, 2])
    title = f"{spec.symbol} paper trading"
    t = _times(e["ts"])
    eq.plot(t, e["equity"].astype(float), color="tab:blue", lw=1.2, label="equity")
    eq.ticklabel_format(axis="y", style="plain", useOffset=False)  # equity as it is, not "+1e5"
    eq.set_ylabel("equity")
    dd = eq.twinx()
    dd.fill_between(t, -100 * e["drawdown"].astype(float), 0, color="tab:red", alpha=0.25, label="drawdown %")
    dd.set_ylabel("drawdown %")
    halted = e["halted"].astype(bool)
    if halted.any():
        eq.fill_between(t, 0, 1, where=halted, transform=eq.get_xaxis_transform(), color="grey", alpha=0.2,
                        label="halted")
    _legend(eq, twin=True)
    eq.set_title(f"account: equity {float(e['equity'][-1]):,.2f} at the end, max drawdown "
                 f"{100 * float(e['drawdown'].astype(float).max()):.2f}%", fontsize=10)
    s = src.load("cob_summary", {"symbol": spec.symbol}, spec.start, spec.end)
    price.plot(_times(s["ts"]), s["mid"].astype(float), color="grey", lw=0.8, label="mid")
    f = src.load("fills", {"symbol": spec.symbol, "run": spec.run}, spec.start, spec.end)
    venues = sorted(set(f["venue"].astype(str))) if len(f["ts"]) else []
    maker = (f["liquidity"].astype(str) == "maker") if "liquidity" in f and len(f["ts"]) else \
        np.zeros(len(f["ts"]), dtype=bool)
    for i, venue in enumerate(venues):
        for side, color in (("buy", "tab:green"), ("sell", "tab:red")):
            for made, how in ((False, ""), (True, " maker")):  # a maker fill: hollow
                m = (f["venue"].astype(str) == venue) & (f["side"].astype(str) == side) & (maker == made)
                if m.any():
                    price.scatter(_times(f["ts"][m]), f["price"][m].astype(float), s=22, zorder=3,
                                  marker=VENUE_MARKERS[i % len(VENUE_MARKERS)], label=f"{side}{how} {venue}",
                                  **({"facecolors": "none", "edgecolors": color} if made else {"color": color}))
    resting = _resting(src, spec, int(e["ts"][-1]))
    for start, end, level, side in resting:  # each limit order's price while it rested
        price.hlines(level, _times(np.array([start]))[0], _times(np.array([end]))[0], lw=1.4, alpha=0.7,
                     color="tab:green" if side == "buy" else "tab:red", linestyles="dotted")
    r = src.load("risk_events", {"run": spec.run}, spec.start, spec.end)
    n_events = 0
    if len(r["ts"]):
        syms = r["symbol"].astype(str)
        mine = (syms == spec.symbol) | (syms == "account")
        n_events = int(mine.sum())
        for x in _times(r["ts"][mine]):
            price.axvline(x, color="tab:orange", lw=0.6, alpha=0.6)
    price.set_ylabel("price")
    _legend(price)
    _pivots(src, spec, price)
    fees = float(f["fee"].astype(float).sum()) if len(f["ts"]) else 0.0
    maker_fees = float(f["fee"][maker].astype(float).sum()) if maker.any() else 0.0
    price.set_title(f"fills on the mid: {len(f['ts'])} fills ({int(maker.sum())} maker, hollow), fees {fees:,.2f} "
                    f"({maker_fees:,.2f} maker); resting limit orders (dotted): {len(resting)}; risk events "
                    f"(orange lines): {n_events}", fontsize=10)
    p = src.load("positions", {"symbol": spec.symbol, "run": spec.run}, spec.start, spec.end)
    if len(p["ts"]):
        position = p["position"].astype(float)
        pos.step(_times(p["ts"]), position, where="post", color="tab:purple", label="position")
        pos.axhline(0, color="grey", lw=0.8)
        top = max(float(np.abs(position).max()), 1e-12) * 1.1
        pos.set_ylim(min(float(position.min()) * 1.1, -0.05 * top), max(float(position.max()) * 1.1, 0.05 * top))
        pnl = pos.twinx()
        pnl.plot(_times(p["ts"]), (p["realized"].astype(float) + np.nan_to_num(p["unrealized"].astype(float))
                                   - p["fees"].astype(float)), color="tab:olive", lw=1, label="PnL net of fees")
        pnl.set_ylabel("PnL")
        _legend(pnl, twin=True, lower=True)
        _legend(pos, twin=True)
    else:
        _empty(pos, "positions")
    pos.set_ylabel("position")
    return _finish(fig, [eq, price, pos], title, path)


def _resting(src: ReportSource, spec: ReportSpec, last_ns: int) -> list[tuple[int, int, float, str]]:
    """(from ns, to ns, price, side) of each limit order of the symbol while it rested: from
    its first `open` or `partially_filled` row to the row that ended it (else the range's end)."""
    o = src.load("orders", {"symbol": spec.symbol, "run": spec.run}, spec.start, spec.end)
    if not len(o["ts"]) or "type" not in o:
        return []
    spans: dict[str, list] = {}
    for i in np.argsort(o["ts"], kind="stable"):
        if o["type"][i] != "limit" or o["price"][i] is None:
            continue
        oid, status = str(o["order_id"][i]), str(o["status"][i])
        span = spans.get(oid)
        if span is None and status in ("open", "partially_filled"):
            spans[oid] = [int(o["ts"][i]), None, float(o["price"][i]), str(o["side"][i])]
        elif span is not None and span[1] is None and status not in ("open", "partially_filled"):
            span[1] = int(o["ts"][i])
    return [(a, b if b is not None else last_ns, p, side) for a, b, p, side in spans.values()]


def equity_view(src: ReportSource, start: int, end: int, path: Path, title: str = "paper account",
                run: str = "paper") -> Path:
    """The account's equity with its drawdown underneath (a backtest's first picture)."""
    fig, (eq, dd) = _figure(2, [3, 1])
    e = src.load("equity", {"run": run}, start, end)
    if len(e["ts"]) == 0:
        _empty(eq, "equity rows")
        return _finish(fig, [eq, dd], title, path)
    t = _times(e["ts"])
    equity = e["equity"].astype(float)
    eq.plot(t, equity, color="tab:blue", lw=1.2, label="equity")
    eq.plot(t, e["peak"].astype(float), color="tab:blue", lw=0.6, ls=":", label="peak")
    eq.ticklabel_format(axis="y", style="plain", useOffset=False)
    halted = e["halted"].astype(bool)
    if halted.any():
        eq.fill_between(t, 0, 1, where=halted, transform=eq.get_xaxis_transform(), color="grey", alpha=0.2,
                        label="halted")
    eq.set_ylabel("equity")
    _legend(eq)
    dd.fill_between(t, -100 * e["drawdown"].astype(float), 0, color="tab:red", alpha=0.5, step="post")
    dd.set_ylabel("drawdown %")
    ret = equity[-1] / equity[0] - 1
    eq.set_title(f"equity {equity[0]:,.2f} -> {equity[-1]:,.2f} ({100 * ret:+.3f}%), max drawdown "
                 f"{100 * float(e['drawdown'].astype(float).max()):.3f}%", fontsize=10)
    return _finish(fig, [eq, dd], title, path)


def round_trips_view(trips: list, path: Path, limit: int = 30) -> Path | None:
    """A table of the round trips (the last `limit`), net PnL coloured by its sign; None (no
    page) without a trip."""
    if not trips:
        return None
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    ax = fig.subplots()
    ax.axis("off")
    shown = trips[-limit:]
    fmt = "%Y-%m-%d %H:%M:%S"
    cells = [[t.symbol, t.side, _times(np.array([t.opened])).astype(object)[0].strftime(fmt),
              f"{(t.closed - t.opened) / NS:,.0f} s", str(t.fills), f"{t.max_qty:.6g}", f"{t.pnl:,.2f}",
              f"{t.fees:,.2f}", f"{t.net:,.2f}"] for t in shown]
    table = ax.table(cellText=cells, loc="upper center", colLabels=[
        "symbol", "side", "opened (UTC)", "held", "fills", "max qty", "PnL", "fees", "net"])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.25)
    for i, t in enumerate(shown, start=1):
        table[i, 8].set_facecolor("#c8f0c8" if t.net > 0 else "#f5c6c6")
    wins = sum(1 for t in trips if t.net > 0)
    ax.set_title(f"round trips: {len(trips)} ({wins} won net of fees); the last {len(shown)} shown",
                 fontsize=11)
    fig.savefig(path, dpi=DPI)
    return path


def spec_start(ts: np.ndarray, spec: ReportSpec) -> int:
    return int(max(spec.start, ts.min()) // NS * NS)


def spec_end(ts: np.ndarray, spec: ReportSpec) -> int:
    return int(min(spec.end - 1, ts.max()) // NS * NS)


VIEWS = {"heatmap": heatmap, "imbalance": imbalance, "candles": candles, "health": health,
         "model-input": book_input, "trading": trading}


def render_all(src: ReportSource, spec: ReportSpec, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    slug = spec.symbol.replace("/", "-")
    made = (view(src, spec, out / f"{slug}-{name}.png") for name, view in VIEWS.items())
    return [p for p in made if p is not None]  # no trading view without an account
