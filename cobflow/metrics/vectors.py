"""Feature vectors per symbol and second (FEATURES.md "Feature vectors"): `cnn` (220 values)
and `rl` (30 values), laid out as `CNN_LAYOUT` and `RL_LAYOUT` say (docs/features.md's table is
generated from them), versioned by `LAYOUT`. Every statistic that scales a value is trailing:
a window of the seconds `(S - W, S]`, nothing after S.

The heatmap (last T seconds x 41 buckets, bid and ask) comes from `heatmap`, which the PNG
report and the models both call.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Stored with every features row and every model checkpoint; bump on any change below.
LAYOUT = "v1"
LEVELS = 20  # price levels per side
BUCKETS = 41  # offsets -20..+20 (METRICS.md)
CENTER = 20  # index of offset 0
Z_WINDOW_S = 300  # trailing window of the z-scores
RETURN_WINDOW_S = 60  # realised volatility and order-flow imbalance
HEATMAP_SECONDS = 300

LEVEL_FEATURES = (
    ("share", "qty / (bid_qty_total + ask_qty_total) of the second (0 when both are 0)"),
    ("z", f"(qty - mean) / std of this side and offset over the trailing {Z_WINDOW_S} s (0 while fewer than "
          "2 rows or flat), clipped to [-10, 10]"),
    ("dist_bps", "(vwap - mid) / mid * 1e4 (0 when qty is 0)"),
    ("venues", "venues with size in the bucket / venues configured"),
    ("dshare", "share - share of the same side and offset in the previous row (0 in the first)"),
)

MICRO = (
    ("spread_bps", "cob_summary.spread_bps"),
    ("micro_dev_bps", "(microprice - mid) / mid * 1e4"),
    ("liquidity_imbalance", "cob_summary.liquidity_imbalance"),
    ("li_ma_1", "cob_summary.li_ma_1"),
    ("li_ma_5", "cob_summary.li_ma_5"),
    ("li_ma_15", "cob_summary.li_ma_15"),
    ("li_ma_60", "cob_summary.li_ma_60"),
    ("crossed", "1 when the venues cross, else 0"),
    ("venues_frac", "cob_summary.venues / venues configured"),
    ("ret_1_bps", "ln(mid / mid of the latest row at or before S-1) * 1e4 (0 without one in 300 s)"),
    ("ret_5_bps", "the same against S-5"),
    ("ret_60_bps", "the same against S-60"),
    ("vol_60_bps", f"std of ret_1_bps over the rows of the trailing {RETURN_WINDOW_S} s"),
    ("aggressive_buy_ratio", "order_flow ALL of the second (0.5 without trades)"),
    ("ofi_60", f"sum(buy_volume - sell_volume) / sum(volume) of the 1s ALL bars of the trailing "
               f"{RETURN_WINDOW_S} s (0 without volume)"),
    ("volume_z", f"z-score of the second's 1s ALL volume (0 without trades) over the trailing {Z_WINDOW_S} s"),
    ("pivot_high_dist_bps", "(price of the latest confirmed level-2 1s pivot high - mid) / mid * 1e4 (0: none)"),
    ("pivot_low_dist_bps", "(price of the latest confirmed level-2 1s pivot low - mid) / mid * 1e4 (0: none)"),
    ("rsi", "rsi_14 / 100 of the latest closed 1s bar (0.5 while null)"),
    ("bb_pctb", "(close - bb_lower) / (bb_upper - bb_lower) of the latest closed 1s bar (0.5 while null "
                "or flat), clipped to [-5, 5]"),
)


def _cnn_layout() -> tuple[tuple[str, str], ...]:
    out = []
    for side, sign in (("bid", "-"), ("ask", "+")):
        for j in range(LEVELS):
            for name, formula in LEVEL_FEATURES:
                out.append((f"{side}_{j}_{name}", f"{side} bucket at offset {sign}{j}: {formula}"))
    return (*out, *MICRO)


CNN_LAYOUT = _cnn_layout()

RL_LAYOUT = (
    *((f"bid_{j}_share", f"cnn bid_{j}_share") for j in range(5)),
    *((f"ask_{j}_share", f"cnn ask_{j}_share") for j in range(5)),
    ("liquidity_imbalance", "cnn liquidity_imbalance"),
    ("li_ma_5", "cnn li_ma_5"),
    ("li_ma_15", "cnn li_ma_15"),
    ("li_ma_60", "cnn li_ma_60"),
    ("spread_bps", "cnn spread_bps"),
    ("micro_dev_bps", "cnn micro_dev_bps"),
    ("imbalance_m1", "cob_buckets.imbalance at offset -1"),
    ("imbalance_0", "cob_buckets.imbalance at offset 0"),
    ("imbalance_p1", "cob_buckets.imbalance at offset +1"),
    ("venues_frac", "cnn venues_frac"),
    ("ret_1_bps", "cnn ret_1_bps"),
    ("ret_5_bps", "cnn ret_5_bps"),
    ("ret_60_bps", "cnn ret_60_bps"),
    ("vol_60_bps", "cnn vol_60_bps"),
    ("aggressive_buy_ratio", "cnn aggressive_buy_ratio"),
    ("ofi_60", "cnn ofi_60"),
    ("volume_z", "cnn volume_z"),
    ("rsi", "cnn rsi"),
    ("macd_hist_bps", "macd_hist / mid * 1e4 of the latest closed 1s bar (0 while null)"),
    ("bb_pctb", "cnn bb_pctb"),
)
CNN_SIZE, RL_SIZE = len(CNN_LAYOUT), len(RL_LAYOUT)
assert (CNN_SIZE, RL_SIZE) == (220, 30)


class LayoutMismatch(ValueError):
    """Rows or a checkpoint of another feature layout."""


def check_layout(found: str, what: str) -> None:
    if found != LAYOUT:
        raise LayoutMismatch(f"{what} uses feature layout {found!r}; this cobflow computes layout {LAYOUT!r}: "
                             f"retrain on features of layout {LAYOUT!r} (cobflow features)")


def heatmap(seconds: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray, end_s: int,
            length: int = HEATMAP_SECONDS) -> np.ndarray:
    """Rows of cob_buckets (one per second: 41 quantities per side, offsets -20..+20) ->
    an array (2, length, 41): [0] bid, [1] ask; row t is second end_s - length + 1 + t,
    zeros where a second has no row. Seconds outside the window are left out."""
    out = np.zeros((2, length, BUCKETS))
    seconds = np.asarray(seconds, dtype=np.int64)
    t = seconds - (end_s - length + 1)
    keep = (t >= 0) & (t < length)
    out[0, t[keep]] = np.asarray(bid_qty, dtype=np.float64)[keep]
    out[1, t[keep]] = np.asarray(ask_qty, dtype=np.float64)[keep]
    return out


class Trailing:
    """Rows of the seconds `(S - n, S]`: their count, mean and std from running sums (a
    deque of the rows in the window), summed again exactly from the rows whenever S is a
    multiple of n so rounding cannot build up. Every reader that feeds the same rows gets
    the same numbers, and the sums are part of the state a resume restores."""

    def __init__(self, seconds: int, width: int) -> None:
        self.n = seconds
        self.rows: deque[tuple[int, np.ndarray]] = deque()
        self.sum = np.zeros(width)
        self.sumsq = np.zeros(width)

    def add(self, s: int, x: np.ndarray) -> None:
        rows, old = self.rows, s - self.n
        while rows and rows[0][0] <= old:
            _, gone = rows.popleft()
            self.sum -= gone
            self.sumsq -= gone * gone
        rows.append((s, x))
        if s % self.n == 0:
            stacked = np.stack([r for _, r in rows])
            self.sum, self.sumsq = stacked.sum(axis=0), (stacked * stacked).sum(axis=0)
        else:
            self.sum += x
            self.sumsq += x * x

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.rows)
        mean = self.sum / n
        var = np.maximum(self.sumsq / n - mean * mean, 0.0)
        std = np.sqrt(var)
        std[std <= 1e-9 * (np.abs(mean) + 1.0)] = 0.0  # flat: what is left is rounding
        return mean, std

    def zscore(self, x: np.ndarray) -> np.ndarray:
        """x against the window it was just added to (0 while fewer than 2 rows, or flat)."""
        if len(self.rows) < 2:
            return np.zeros_like(x)
        mean, std = self.mean_std()
        flat = std == 0
        std[flat] = 1.0
        z = (x - mean) / std
        z[flat] = 0.0
        return np.clip(z, -10.0, 10.0, out=z)


class ScalarTrailing:
    """`Trailing` for rows of a few numbers, in plain floats (numpy's per-call cost would
    be most of the work)."""

    def __init__(self, seconds: int, width: int) -> None:
        self.n = seconds
        self.width = width
        self.rows: deque[tuple[int, tuple[float, ...]]] = deque()
        self.sum = [0.0] * width
        self.sumsq = [0.0] * width

    def add(self, s: int, x: tuple[float, ...]) -> None:
        rows, old = self.rows, s - self.n
        total, squares = self.sum, self.sumsq
        while rows and rows[0][0] <= old:
            _, gone = rows.popleft()
            for i, v in enumerate(gone):
                total[i] -= v
                squares[i] -= v * v
        rows.append((s, x))
        if s % self.n == 0:
            self.sum = [math.fsum(r[i] for _, r in rows) for i in range(self.width)]
            self.sumsq = [math.fsum(r[i] * r[i] for _, r in rows) for i in range(self.width)]
        else:
            for i, v in enumerate(x):
                total[i] += v
                squares[i] += v * v

    def std(self, i: int = 0) -> float:
        n = len(self.rows)
        mean = self.sum[i] / n
        std = math.sqrt(max(self.sumsq[i] / n - mean * mean, 0.0))
        return 0.0 if std <= 1e-9 * (abs(mean) + 1.0) else std

    def zscore(self, x: float, i: int = 0) -> float:
        if len(self.rows) < 2:
            return 0.0
        std = self.std(i)
        if std == 0.0:
            return 0.0
        return min(10.0, max(-10.0, (x - self.sum[i] / len(self.rows)) / std))


@dataclass
class SecondInput:
    """What a second's vectors are made of: its rows (METRICS.md) and what came before."""

    second: int
    summary: Mapping[str, Any] | None  # cob_summary values
    buckets: np.ndarray | None  # (6, 41): BUCKET_ROWS of cob_buckets, offsets -20..+20
    flow_ratio: float | None  # order_flow ALL aggressive_buy_ratio of the second
    bar_1s: tuple[float, float, float] | None  # (volume, buy_volume, sell_volume) of the second's 1s ALL bar
    indicators_1s: dict[str, float | None]  # of the latest closed 1s bar
    close_1s: float | None  # that bar's close
    pivot_high: float | None  # latest confirmed level-2 1s pivots
    pivot_low: float | None


BUCKET_ROWS = ("bid_qty", "ask_qty", "bid_vwap", "ask_vwap", "imbalance", "venues")
_BID = np.arange(CENTER, CENTER - LEVELS, -1)  # offsets 0, -1, ..., -19
_ASK = np.arange(CENTER, CENTER + LEVELS)  # offsets 0, +1, ..., +19
_QTY = np.concatenate([0 * BUCKETS + _BID, 1 * BUCKETS + _ASK])  # into the flattened (6, 41)
_VWAP = np.concatenate([2 * BUCKETS + _BID, 3 * BUCKETS + _ASK])
_VENUES = np.concatenate([5 * BUCKETS + _BID, 5 * BUCKETS + _ASK])
_IMB3 = 4 * BUCKETS + np.array([CENTER - 1, CENTER, CENTER + 1])
_N_LEVEL = 2 * LEVELS * len(LEVEL_FEATURES)
_MICRO_INDEX = {name: _N_LEVEL + i for i, (name, _) in enumerate(MICRO)}
_MICRO_NAMES = tuple(name for name, _ in MICRO)
_SUMMARY_MICRO = ("liquidity_imbalance", "li_ma_1", "li_ma_5", "li_ma_15", "li_ma_60", "spread_bps")
_RL_FROM_CNN = np.array(
    [_N_LEVEL // 2 * 0 + j * len(LEVEL_FEATURES) for j in range(5)]
    + [_N_LEVEL // 2 + j * len(LEVEL_FEATURES) for j in range(5)]
    + [_MICRO_INDEX[n] for n in ("liquidity_imbalance", "li_ma_5", "li_ma_15", "li_ma_60", "spread_bps",
                                 "micro_dev_bps")])
_RL_FROM_CNN_TAIL = np.array([_MICRO_INDEX[n] for n in ("venues_frac", "ret_1_bps", "ret_5_bps", "ret_60_bps",
                                                        "vol_60_bps", "aggressive_buy_ratio", "ofi_60", "volume_z",
                                                        "rsi")])


def _bps(x: float | None, mid: float) -> float:
    return 0.0 if x is None or x != x else (x - mid) / mid * 1e4


def _finite(x: np.ndarray) -> np.ndarray:
    x[~np.isfinite(x)] = 0.0
    return x


class FeatureVectors:
    """The trailing state of one symbol's vectors."""

    def __init__(self, configured: int) -> None:
        self.configured = configured
        self.qty = Trailing(Z_WINDOW_S, 2 * LEVELS)  # bid offsets 0..-19, ask 0..19
        self.volume = ScalarTrailing(Z_WINDOW_S, 1)
        self.flow = ScalarTrailing(RETURN_WINDOW_S, 3)  # volume, buy, sell of 1s bars
        self.rets = ScalarTrailing(RETURN_WINDOW_S, 1)
        self.mids: dict[int, float] = {}  # second -> mid, the last HEATMAP_SECONDS + 1 seconds
        self.prev_share: np.ndarray | None = None

    def _mid_before(self, s: int, lag: int) -> float | None:
        """Mid of the latest row at or before s - lag, within the last 300 s."""
        mids = self.mids
        for t in range(s - lag, s - HEATMAP_SECONDS, -1):
            m = mids.get(t)
            if m is not None:
                return m
        return None

    def second(self, x: SecondInput) -> tuple[np.ndarray, np.ndarray]:
        s = x.second
        cnn = np.zeros(CNN_SIZE)
        micro = dict.fromkeys(_MICRO_NAMES, 0.0)
        volume, buy, sell = x.bar_1s or (0.0, 0.0, 0.0)
        self.volume.add(s, (volume,))
        self.flow.add(s, (volume, buy, sell))
        flows = self.flow.sum
        micro["ofi_60"] = (flows[1] - flows[2]) / flows[0] if flows[0] > 1e-12 else 0.0
        micro["volume_z"] = self.volume.zscore(volume)
        micro["aggressive_buy_ratio"] = 0.5 if x.flow_ratio is None else x.flow_ratio
        summ = x.summary or {}
        mid = summ.get("mid")
        micro["venues_frac"] = (summ.get("venues") or 0) / self.configured
        micro["crossed"] = 1.0 if summ.get("crossed") else 0.0
        ind = x.indicators_1s
        rsi = ind.get("rsi_14")
        micro["rsi"] = 0.5 if rsi is None else rsi / 100
        up, lo = ind.get("bb_upper"), ind.get("bb_lower")
        if up is not None and lo is not None and x.close_1s is not None and up - lo > 1e-12:
            micro["bb_pctb"] = min(5.0, max(-5.0, (x.close_1s - lo) / (up - lo)))
        else:
            micro["bb_pctb"] = 0.5
        macd_hist_bps = 0.0
        imb3: np.ndarray | tuple = (0.0, 0.0, 0.0)
        if mid is not None and mid > 0:
            for name in _SUMMARY_MICRO:
                v = summ.get(name)
                micro[name] = 0.0 if v is None else v
            micro["micro_dev_bps"] = _bps(summ.get("microprice"), mid)
            for lag, name in ((1, "ret_1_bps"), (5, "ret_5_bps"), (60, "ret_60_bps")):
                before = self._mid_before(s, lag)
                micro[name] = math.log(mid / before) * 1e4 if before else 0.0
            self.rets.add(s, (micro["ret_1_bps"],))
            micro["vol_60_bps"] = self.rets.std() if len(self.rets.rows) >= 2 else 0.0
            self.mids[s] = mid
            self.mids.pop(s - HEATMAP_SECONDS - 1, None)
            if len(self.mids) > HEATMAP_SECONDS + 1:  # after a jump in time
                self.mids = {t: v for t, v in self.mids.items() if t > s - HEATMAP_SECONDS - 1}
            micro["pivot_high_dist_bps"] = _bps(x.pivot_high, mid)
            micro["pivot_low_dist_bps"] = _bps(x.pivot_low, mid)
            hist = ind.get("macd_hist")
            macd_hist_bps = 0.0 if hist is None else hist / mid * 1e4
            if x.buckets is not None:
                flat = x.buckets.ravel()
                self._levels(s, flat, x.buckets[0].sum() + x.buckets[1].sum(), mid, cnn)
                imb3 = flat[_IMB3]
        cnn[_N_LEVEL:] = list(micro.values())
        _finite(cnn)
        rl = np.empty(RL_SIZE)
        rl[:16] = cnn[_RL_FROM_CNN]
        rl[16:19] = imb3
        rl[19:28] = cnn[_RL_FROM_CNN_TAIL]
        rl[28] = macd_hist_bps
        rl[29] = micro["bb_pctb"]
        return cnn, _finite(rl)

    def _levels(self, s: int, flat: np.ndarray, total: float, mid: float, cnn: np.ndarray) -> None:
        """The 2 x 20 x 5 bucket values into cnn[0:200]."""
        qty = flat[_QTY]
        share = qty / total if total > 0 else np.zeros_like(qty)
        self.qty.add(s, qty)
        block = np.empty((2 * LEVELS, len(LEVEL_FEATURES)))
        block[:, 0] = share
        block[:, 1] = self.qty.zscore(qty)
        block[:, 2] = np.where(qty > 0, (flat[_VWAP] - mid) / mid * 1e4, 0.0)
        block[:, 3] = flat[_VENUES] / self.configured
        block[:, 4] = share - self.prev_share if self.prev_share is not None else 0.0
        self.prev_share = share
        cnn[:_N_LEVEL] = block.ravel()


def layout_markdown() -> str:
    """docs/features.md's layout table (tests hold the two together)."""
    lines = [f"Layout `{LAYOUT}`. `cnn` (220): indexes 0-199 are 2 sides x {LEVELS} levels x "
             f"{len(LEVEL_FEATURES)} values, index = side * 100 + level * 5 + value (side 0 bid at offsets "
             f"0, -1, ..., -19; side 1 ask at offsets 0, +1, ..., +19); 200-219 the microstructure values.",
             "", "| cnn index | name | formula |", "|---|---|---|"]
    for f, (name, formula) in enumerate(LEVEL_FEATURES):
        lines.append(f"| side*100 + level*5 + {f} | `{{side}}_{{level}}_{name}` | {formula} |")
    base = 2 * LEVELS * len(LEVEL_FEATURES)
    for i, (name, formula) in enumerate(MICRO):
        lines.append(f"| {base + i} | `{name}` | {formula} |")
    lines += ["", "| rl index | name | formula |", "|---|---|---|"]
    for i, (name, formula) in enumerate(RL_LAYOUT):
        lines.append(f"| {i} | `{name}` | {formula} |")
    return "\n".join(lines)
