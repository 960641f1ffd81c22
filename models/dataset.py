"""Training samples from stored rows: the models' inputs at second S (features of seconds
`<= S` only) and labels from after S, which no feature ever sees.

- direction over the horizon h: the mid's log return from S to S + h, `up` above the dead
  zone, `down` below minus it, `flat` between (METRICS.md mids; no sample without a mid at
  S + h);
- the next pivot of each level (1s bars) whose bar starts after S: its price offset from the
  mid at S (bps) and its time offset (s), masked where none follows in the data.

The walk-forward split is by time: the last `validation_share` of the seconds validate, and
the `h` seconds before the validation start are dropped from training (the embargo), so no
training label reaches into the validation period.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cobflow.metrics.pivots import LEVELS
from cobflow.metrics.vectors import CNN_SIZE, RL_SIZE, check_layout
from cobflow.stored import read_table

NS = 1_000_000_000
DOWN, FLAT, UP = 0, 1, 2


@dataclass(frozen=True)
class LabelSpec:
    window_s: int = 60  # T: seconds of feature vectors the CNN reads
    horizon_s: int = 60  # h
    dead_zone_bps: float = 2.0
    heatmap_pool_s: int = 5  # the 300 s heatmap averaged over this many seconds a row


@dataclass
class SymbolSeries:
    """One symbol's stored rows, one per second that has a features row."""

    symbol: str
    seconds: np.ndarray  # int64
    cnn: np.ndarray  # (n, 220)
    rl: np.ndarray  # (n, 30)
    quality: np.ndarray
    mid: np.ndarray  # NaN where the second has none
    bid: np.ndarray  # (n, 41) bucket quantities
    ask: np.ndarray
    pivots: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]  # (kind, level) -> (bar start s, price)


class DatasetError(ValueError):
    pass


def load_series(folder: Path, since_s: int | None = None, until_s: int | None = None) -> list[SymbolSeries]:
    """Every symbol of a folder with `features`, `cob_summary`, `cob_buckets` and `pivots`
    (a `cobflow compute` output, or `cobflow features` output beside it); with `since_s` /
    `until_s`, only what was known in [since, until]: rows of those seconds, pivots
    confirmed by `until` (the learner at its data clock)."""
    for name in ("features", "cob_summary", "cob_buckets", "pivots"):
        if not any((folder / name).glob("*.parquet")):
            raise DatasetError(f"{folder}: no {name}/ table here (a `cobflow compute` output folder has them)")
    feats, summary, buckets, pivots = (_between(read_table(folder, n), since_s, until_s)
                                       for n in ("features", "cob_summary", "cob_buckets", "pivots"))
    if until_s is not None:
        pivots = pivots.filter(pc.less(pc.cast(pivots["confirmed_ts"], pa.int64()), (until_s + 1) * NS))
    layouts = set(feats["layout"].to_pylist())
    for layout in layouts:
        check_layout(layout, f"{folder}/features")
    out = []
    for symbol in sorted(set(feats["symbol"].to_pylist())):
        f = _of(feats, symbol).sort_by("ts")
        sec = _seconds(f)
        s = _of(summary, symbol)
        mids = dict(zip(_seconds(s).tolist(), s["mid"].to_numpy(zero_copy_only=False)))
        b = _of(buckets, symbol).sort_by([("ts", "ascending"), ("offset", "ascending")])
        bsec = _seconds(b)[::41]
        bid = np.zeros((len(sec), 41))
        ask = np.zeros((len(sec), 41))
        where = {t: i for i, t in enumerate(sec.tolist())}
        bq = b["bid_qty"].to_numpy().reshape(-1, 41)
        aq = b["ask_qty"].to_numpy().reshape(-1, 41)
        for j, t in enumerate(bsec.tolist()):
            i = where.get(t)
            if i is not None:
                bid[i], ask[i] = bq[j], aq[j]
        p = _of(pivots, symbol)
        p = p.filter(pc.equal(p["timeframe"], "1s")).sort_by("ts")
        psec, kinds, levels, prices = _seconds(p), p["kind"].to_pylist(), p["level"].to_numpy(), p["price"].to_numpy()
        piv = {}
        for kind in ("high", "low"):
            for level in range(1, LEVELS + 1):
                m = np.array([k == kind for k in kinds], dtype=bool) & (levels == level) if len(kinds) else np.zeros(0, bool)
                piv[(kind, level)] = (psec[m], prices[m])
        out.append(SymbolSeries(symbol, sec, np.stack(f["cnn"].to_numpy(zero_copy_only=False)) if len(f) else
                                np.zeros((0, CNN_SIZE)),
                                np.stack(f["rl"].to_numpy(zero_copy_only=False)) if len(f) else np.zeros((0, RL_SIZE)),
                                f["quality"].to_numpy(), np.array([mids.get(t, np.nan) for t in sec.tolist()],
                                                                  dtype=np.float64), bid, ask, piv))
    if not out:
        raise DatasetError(f"{folder}: the features table is empty")
    return out


def _between(table: pa.Table, since_s: int | None, until_s: int | None) -> pa.Table:
    ts = pc.cast(table["ts"], pa.int64())
    if since_s is not None:
        table, ts = table.filter(pc.greater_equal(ts, since_s * NS)), ts.filter(pc.greater_equal(ts, since_s * NS))
    if until_s is not None:
        table = table.filter(pc.less(ts, (until_s + 1) * NS))
    return table


def _of(table, symbol):  # type: ignore[no-untyped-def]
    return table.filter(pc.equal(table["symbol"], symbol))


def _seconds(table) -> np.ndarray:  # type: ignore[no-untyped-def]
    return pc.cast(table["ts"], pa.int64()).to_numpy() // NS


@dataclass
class Dense:
    """One symbol's rows on a grid of consecutive seconds (zeros where a second has none)."""

    cnn: np.ndarray  # (m, 220) float32
    bid: np.ndarray  # (m, 41)
    ask: np.ndarray


@dataclass
class Samples:
    """Model inputs and labels at a set of seconds (across symbols), in time order. The
    windows and heatmaps are cut from the dense grids when a batch asks for them."""

    spec: LabelSpec
    dense: list[Dense]
    src: np.ndarray  # which dense grid
    row: np.ndarray  # the sample's second's row in it
    seconds: np.ndarray
    symbols: list[str]
    rl: np.ndarray  # (n, 30)
    mid: np.ndarray
    ret_bps: np.ndarray  # the label's return over h (NaN: none)
    direction: np.ndarray  # DOWN / FLAT / UP, -1 where unknown
    pivot_target: np.ndarray  # (n, LEVELS, 2): price offset bps, time offset s
    pivot_mask: np.ndarray  # (n, LEVELS) bool

    def __len__(self) -> int:
        return len(self.seconds)

    def take(self, idx: np.ndarray) -> Samples:
        return Samples(self.spec, self.dense, self.src[idx], self.row[idx], self.seconds[idx],
                       [self.symbols[i] for i in idx], self.rl[idx], self.mid[idx], self.ret_bps[idx],
                       self.direction[idx], self.pivot_target[idx], self.pivot_mask[idx])

    def inputs(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(windows (b, T, 220), heatmaps (b, 2, 300 / pool, 41)) of these samples, float32."""
        t = self.spec.window_s
        win = np.stack([self.dense[self.src[i]].cnn[self.row[i] - t + 1:self.row[i] + 1] for i in idx])
        heat = np.stack([heatmap_rows(self.dense[self.src[i]].bid, self.dense[self.src[i]].ask, int(self.row[i]),
                                      self.spec.heatmap_pool_s) for i in idx])
        return win.astype(np.float32), heat.astype(np.float32)


def heatmap_rows(bid: np.ndarray, ask: np.ndarray, end: int, pool: int, length: int = 300) -> np.ndarray:
    """The 300 s heatmap ending at row `end` (rows are consecutive seconds here), averaged
    over `pool` seconds a row and scaled by its mean quantity: (2, length / pool, 41)."""
    lo = end - length + 1
    h = np.zeros((2, length, 41))
    a = max(lo, 0)
    h[0, a - lo:] = bid[a:end + 1]
    h[1, a - lo:] = ask[a:end + 1]
    h = h.reshape(2, length // pool, pool, 41).mean(axis=2)
    scale = h.mean()
    return h / scale if scale > 0 else h


def make_samples(series: list[SymbolSeries], spec: LabelSpec, stride: int = 1, labels: bool = True) -> Samples:
    cols: dict[str, list] = {k: [] for k in ("src", "row", "sec", "sym", "rl", "mid", "ret", "dir", "pt", "pm")}
    grids = []
    for ser in series:
        sec = ser.seconds
        if len(sec) == 0:
            continue
        first = int(sec[0])
        m = int(sec[-1]) - first + 1
        at = np.full(m, -1)
        at[sec - first] = np.arange(len(sec))
        g = Dense(np.zeros((m, CNN_SIZE), np.float32), np.zeros((m, 41)), np.zeros((m, 41)))
        g.cnn[sec - first] = ser.cnn
        g.bid[sec - first] = ser.bid
        g.ask[sec - first] = ser.ask
        mid = np.full(m, np.nan)
        mid[sec - first] = ser.mid
        grids.append(g)
        for d in range(spec.window_s - 1, m, stride):
            i = at[d]
            if i < 0 or not np.isfinite(mid[d]):
                continue
            s = first + d
            ret, direction = np.nan, -1
            pt = np.zeros((LEVELS, 2))
            pm = np.zeros(LEVELS, dtype=bool)
            if labels:
                f = d + spec.horizon_s
                if f < m and np.isfinite(mid[f]):
                    ret = float(np.log(mid[f] / mid[d]) * 1e4)
                    direction = UP if ret > spec.dead_zone_bps else DOWN if ret < -spec.dead_zone_bps else FLAT
                for level in range(1, LEVELS + 1):
                    best = None
                    for kind in ("high", "low"):
                        ps, pp = ser.pivots[(kind, level)]
                        j = int(np.searchsorted(ps, s, side="right"))
                        if j < len(ps) and (best is None or ps[j] < best[0]):
                            best = (int(ps[j]), float(pp[j]))
                    if best is not None:
                        pt[level - 1] = ((best[1] / mid[d] - 1) * 1e4, best[0] - s)
                        pm[level - 1] = True
            for k, v in (("src", len(grids) - 1), ("row", d), ("sec", s), ("sym", ser.symbol), ("rl", ser.rl[i]),
                         ("mid", mid[d]), ("ret", ret), ("dir", direction), ("pt", pt), ("pm", pm)):
                cols[k].append(v)
    if not cols["sec"]:
        raise DatasetError(f"no sample: every symbol needs at least {spec.window_s} s of features with a mid")
    samples = Samples(spec, grids, np.array(cols["src"]), np.array(cols["row"]), np.array(cols["sec"], np.int64),
                      cols["sym"], np.array(cols["rl"]), np.array(cols["mid"]), np.array(cols["ret"]),
                      np.array(cols["dir"]), np.array(cols["pt"]), np.array(cols["pm"]))
    return samples.take(np.lexsort((np.array(cols["sym"]), samples.seconds)))


def walk_forward(samples: Samples, horizon_s: int, validation_share: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(train indexes, validation indexes): validation is the last share of the time span,
    and training stops `horizon_s` before it (the embargo)."""
    lo, hi = int(samples.seconds.min()), int(samples.seconds.max())
    split = hi - int((hi - lo) * validation_share)
    train = np.flatnonzero(samples.seconds + horizon_s < split)
    valid = np.flatnonzero(samples.seconds >= split)
    if len(train) == 0 or len(valid) == 0:
        raise DatasetError(f"too little data for a walk-forward split ({hi - lo} s of features)")
    return train, valid

