"""Feature vectors per symbol and second (FEATURES.md "Feature vectors"): `cnn` (220 values)
and `rl` (30 values), laid out as `CNN_LAYOUT` and `RL_LAYOUT` say (the README's table is
generated from them), versioned by `LAYOUT`. Every statistic that scales a value is trailing:
a window of the seconds `(S - W, S]`, nothing after S.

The heatmap (last T seconds x 41 buckets, bid and ask) comes from `heatmap`, which the PNG
report and the models both call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    ("z", f"(qty - mean) / std of this side and offset over the trailing {Z_WINDOW_S} s (0 when std is 0), "
          "clipped to [-10, 10]"),
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
_MICRO_INDEX = {name: 2 * LEVELS * len(LEVEL_FEATURES) + i for i, (name, _) in enumerate(MICRO)}

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
    """Rows of the last `seconds` seconds (a ring, one slot per second): their mean and std."""

    def __init__(self, seconds: int, width: int) -> None:
        self.n = seconds
        self.values = np.zeros((seconds, width))
        self.stamps = np.full(seconds, np.iinfo(np.int64).min, dtype=np.int64)

    def add(self, s: int, x: np.ndarray) -> None:
        i = s % self.n
        self.values[i] = x
        self.stamps[i] = s

    def rows(self, s: int) -> np.ndarray:
        return self.values[self.stamps > s - self.n]

    def zscore(self, s: int, x: np.ndarray) -> np.ndarray:
        rows = self.rows(s)
        if len(rows) < 2:
            return np.zeros_like(x)
        mean, std = rows.mean(axis=0), rows.std(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(std > 1e-12, (x - mean) / std, 0.0)
        return np.clip(z, -10.0, 10.0)


@dataclass
class SecondInput:
    """What a second's vectors are made of: its rows (METRICS.md) and what came before."""

    second: int
    summary: dict | None  # cob_summary columns
    buckets: dict[str, np.ndarray] | None  # cob_buckets columns, offsets -20..+20 in order
    flow_ratio: float | None  # order_flow ALL aggressive_buy_ratio of the second
    bar_1s: tuple[float, float, float] | None  # (volume, buy_volume, sell_volume) of the second's 1s ALL bar
    indicators_1s: dict[str, float | None]  # of the latest closed 1s bar
    close_1s: float | None  # that bar's close
    pivot_high: float | None  # latest confirmed level-2 1s pivots
    pivot_low: float | None


def _bps(x: float | None, mid: float) -> float:
    return 0.0 if x is None or x != x else (x - mid) / mid * 1e4


class FeatureVectors:
    """The trailing state of one symbol's vectors."""

    def __init__(self, configured: int) -> None:
        self.configured = configured
        self.qty = Trailing(Z_WINDOW_S, 2 * LEVELS)  # bid offsets 0..-19, ask 0..19
        self.volume = Trailing(Z_WINDOW_S, 1)
        self.flow = Trailing(RETURN_WINDOW_S, 3)  # volume, buy, sell of 1s bars
        self.rets = Trailing(RETURN_WINDOW_S, 1)
        self.mids = Trailing(HEATMAP_SECONDS + 1, 1)
        self.prev_share: np.ndarray | None = None

    def _mid_before(self, s: int, lag: int) -> float | None:
        """Mid of the latest row at or before s - lag (within the ring)."""
        ok = (self.mids.stamps <= s - lag) & (self.mids.stamps > s - self.mids.n)
        if not ok.any():
            return None
        i = int(np.argmax(np.where(ok, self.mids.stamps, np.iinfo(np.int64).min)))
        return float(self.mids.values[i, 0])

    def second(self, x: SecondInput) -> tuple[np.ndarray, np.ndarray]:
        s = x.second
        cnn = np.zeros(CNN_SIZE)
        volume, buy, sell = x.bar_1s or (0.0, 0.0, 0.0)
        self.volume.add(s, np.array([volume]))
        self.flow.add(s, np.array([volume, buy, sell]))
        summ = x.summary or {}
        mid = summ.get("mid")
        m = _MICRO_INDEX
        flows = self.flow.rows(s).sum(axis=0)
        cnn[m["ofi_60"]] = (flows[1] - flows[2]) / flows[0] if flows[0] > 0 else 0.0
        cnn[m["volume_z"]] = self.volume.zscore(s, np.array([volume]))[0]
        cnn[m["aggressive_buy_ratio"]] = 0.5 if x.flow_ratio is None else x.flow_ratio
        venues = summ.get("venues")
        cnn[m["venues_frac"]] = (venues or 0) / self.configured
        cnn[m["crossed"]] = 1.0 if summ.get("crossed") else 0.0
        rsi = x.indicators_1s.get("rsi_14")
        cnn[m["rsi"]] = 0.5 if rsi is None else rsi / 100
        up, lo = x.indicators_1s.get("bb_upper"), x.indicators_1s.get("bb_lower")
        if up is not None and lo is not None and x.close_1s is not None and up - lo > 1e-12:
            cnn[m["bb_pctb"]] = min(5.0, max(-5.0, (x.close_1s - lo) / (up - lo)))
        else:
            cnn[m["bb_pctb"]] = 0.5
        macd_hist_bps = 0.0
        imb3 = np.zeros(3)
        if mid is not None and mid > 0:
            for name in ("liquidity_imbalance", "li_ma_1", "li_ma_5", "li_ma_15", "li_ma_60", "spread_bps"):
                v = summ.get(name)
                cnn[m[name]] = 0.0 if v is None else v
            cnn[m["micro_dev_bps"]] = _bps(summ.get("microprice"), mid)
            for lag, name in ((1, "ret_1_bps"), (5, "ret_5_bps"), (60, "ret_60_bps")):
                before = self._mid_before(s, lag)
                cnn[m[name]] = math.log(mid / before) * 1e4 if before else 0.0
            self.rets.add(s, np.array([cnn[m["ret_1_bps"]]]))
            rets = self.rets.rows(s)
            cnn[m["vol_60_bps"]] = float(rets.std()) if len(rets) >= 2 else 0.0
            self.mids.add(s, np.array([mid]))
            cnn[m["pivot_high_dist_bps"]] = _bps(x.pivot_high, mid)
            cnn[m["pivot_low_dist_bps"]] = _bps(x.pivot_low, mid)
            hist = x.indicators_1s.get("macd_hist")
            macd_hist_bps = 0.0 if hist is None else hist / mid * 1e4
            if x.buckets is not None:
                self._levels(s, x.buckets, summ, mid, cnn)
                imb3 = np.asarray(x.buckets["imbalance"], dtype=np.float64)[CENTER - 1:CENTER + 2]
        cnn = np.nan_to_num(cnn, nan=0.0, posinf=0.0, neginf=0.0)
        rl = np.concatenate([
            cnn[[_level_index("bid", j, 0) for j in range(5)]],
            cnn[[_level_index("ask", j, 0) for j in range(5)]],
            cnn[[m[n] for n in ("liquidity_imbalance", "li_ma_5", "li_ma_15", "li_ma_60", "spread_bps",
                                "micro_dev_bps")]],
            np.nan_to_num(imb3),
            cnn[[m[n] for n in ("venues_frac", "ret_1_bps", "ret_5_bps", "ret_60_bps", "vol_60_bps",
                                "aggressive_buy_ratio", "ofi_60", "volume_z", "rsi")]],
            [macd_hist_bps],
            cnn[[m["bb_pctb"]]],
        ])
        return cnn, np.nan_to_num(rl, nan=0.0, posinf=0.0, neginf=0.0)

    def _levels(self, s: int, b: dict[str, np.ndarray], summ: dict, mid: float, cnn: np.ndarray) -> None:
        """The 2 x 20 x 5 bucket values into cnn[0:200]."""
        bid = np.asarray(b["bid_qty"], dtype=np.float64)[CENTER - LEVELS + 1:CENTER + 1][::-1]  # offsets 0..-19
        ask = np.asarray(b["ask_qty"], dtype=np.float64)[CENTER:CENTER + LEVELS]
        qty = np.concatenate([bid, ask])
        total = float(np.asarray(b["bid_qty"], dtype=np.float64).sum() + np.asarray(b["ask_qty"], dtype=np.float64).sum())
        share = qty / total if total > 0 else np.zeros_like(qty)
        self.qty.add(s, qty)
        z = self.qty.zscore(s, qty)
        bid_vwap = np.asarray(b["bid_vwap"], dtype=np.float64)[CENTER - LEVELS + 1:CENTER + 1][::-1]
        ask_vwap = np.asarray(b["ask_vwap"], dtype=np.float64)[CENTER:CENTER + LEVELS]
        vwap = np.concatenate([bid_vwap, ask_vwap])
        with np.errstate(invalid="ignore"):
            dist = np.where(qty > 0, (vwap - mid) / mid * 1e4, 0.0)
        ven = np.asarray(b["venues"], dtype=np.float64)
        venues = np.concatenate([ven[CENTER - LEVELS + 1:CENTER + 1][::-1], ven[CENTER:CENTER + LEVELS]]) / self.configured
        dshare = share - self.prev_share if self.prev_share is not None else np.zeros_like(share)
        self.prev_share = share
        block = np.stack([share, z, dist, venues, dshare], axis=1)  # (40, 5): bid levels, then ask levels
        cnn[:2 * LEVELS * len(LEVEL_FEATURES)] = block.reshape(-1)


def _level_index(side: str, level: int, feature: int) -> int:
    return (0 if side == "bid" else LEVELS * len(LEVEL_FEATURES)) + level * len(LEVEL_FEATURES) + feature
