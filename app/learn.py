"""`cobflow learn`: models that keep learning from the flow's own rows.

On the data's clock (the newest `features` second stored: the same in a live deployment, a
replay or a test), every `retrain_every_s` (or early, when the running cnn's rolling
accuracy stays under the drift floor), for each model kind it learns (the cnn, and the
user's kinds of COBFLOW_MODELS__KINDS):

    rows of the last train_window_s           (the same dataset code as `cobflow train`)
      -> training on all but the last holdout_s (embargoed by the horizon; early stopping
         on its own walk-forward validation)
      -> challenger and champion on the held-out seconds, one independent label per symbol
         per horizon: the champion's calls as the flow recorded them (`model_outputs`),
         replayed where none is stored; an exact one-sided paired test (models.promotion)
      -> promoted (the champion pointer, atomically; a dqn trained on the new cnn with it)
         or refused; either way a `model_events` row with both scores, the labels and p
      -> the strategy flow, watching the folder, swaps at its next second.

The challenger never sees a held-out second: its training rows end `horizon` before them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cobflow.app.training import checkpoint_meta
from cobflow.app.training import iso as _iso
from cobflow.config import Settings
from cobflow.models.checkpoints import CheckpointError, CheckpointStore, Entry, write_atomic
from cobflow.models.dataset import DatasetError, LabelSpec, Samples, SymbolSeries, load_series, make_samples
from cobflow.models.kinds import ModelKind
from cobflow.models.loading import load_cnn
from cobflow.models.promotion import Verdict, challenge, independent, says_up
from cobflow.models.registry import kind_class
from cobflow.models.train import TrainConfig, cnn_outputs, train_dqn
from cobflow.records import ModelEvent

log = logging.getLogger("cobflow.learn")
HEAT_S = 300
STATE = "learner.json"
TRAINING_TABLES = ("features", "cob_summary", "cob_buckets", "pivots")


class RowSource(Protocol):
    """Where the learner reads the flow's rows."""

    def latest(self) -> int | None:
        """The newest second with a features row (the data clock); None: no rows yet."""
        ...

    def series(self, since_s: int, until_s: int) -> list[SymbolSeries]:
        """What was known of [since, until] at until."""
        ...

    def recorded(self, kind: str, name: str, since_s: int, until_s: int) -> dict[tuple[str, int], np.ndarray]:
        """(symbol, second) -> the probabilities a checkpoint's rows say it gave."""
        ...

    def outcomes(self, source: str, since_s: int, until_s: int) -> list[tuple[str, int, float]]:
        """(symbol, second, rolling accuracy) of a prediction source's scored outcomes."""
        ...


class FolderSource:
    """A `cobflow compute --strategy` output folder (Parquet): tests, benchmarks, replays."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _table(self, name: str):  # type: ignore[no-untyped-def]
        from cobflow.stored import read_table

        return read_table(self.folder, name) if any((self.folder / name).glob("*.parquet")) else None

    def latest(self) -> int | None:
        return self._edge("max")

    def earliest(self) -> int | None:
        return self._edge("min")

    def _edge(self, which: str) -> int | None:
        import pyarrow.compute as pc

        t = self._table("features")
        if t is None or len(t) == 0:
            return None
        return int(getattr(pc, which)(t["ts"].cast("int64")).as_py()) // 1_000_000_000

    def series(self, since_s: int, until_s: int) -> list[SymbolSeries]:
        return load_series(self.folder, since_s, until_s)

    def recorded(self, kind: str, name: str, since_s: int, until_s: int) -> dict[tuple[str, int], np.ndarray]:
        t = self._table("model_outputs")
        if t is None:
            return {}
        out = {}
        for r in t.to_pylist():
            s = _seconds(r["ts"])
            if r["model_type"] == kind and r["model_name"] == name and since_s <= s <= until_s:
                out[(r["symbol"], s)] = np.asarray(r["probabilities"], np.float64)
        return out

    def outcomes(self, source: str, since_s: int, until_s: int) -> list[tuple[str, int, float]]:
        t = self._table("prediction_outcomes")
        if t is None:
            return []
        return sorted((r["symbol"], _seconds(r["ts"]), float(r["rolling_accuracy"])) for r in t.to_pylist()
                      if r["source"] == source and since_s <= _seconds(r["ts"]) <= until_s)


class QuestDBSource:
    """The rows of a running deployment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.questdb

    def _q(self, sql: str) -> list[dict[str, Any]]:
        from cobflow.qdb import query

        return query(self.settings, sql)

    def latest(self) -> int | None:
        try:
            rows = self._q(f"SELECT max(ts) AS ts FROM {self.settings.table('features')}")
        except Exception as e:  # noqa: BLE001 - no table yet, QuestDB starting: no clock yet
            log.debug("no data clock yet: %s", e)
            return None
        return _seconds(rows[0]["ts"]) if rows and rows[0]["ts"] else None

    def series(self, since_s: int, until_s: int) -> list[SymbolSeries]:
        from cobflow.app.recompute import export_questdb

        ns = 1_000_000_000
        with tempfile.TemporaryDirectory(prefix="cobflow-learn-") as tmp:
            export_questdb(self.settings, TRAINING_TABLES, since_s * ns, (until_s + 1) * ns, Path(tmp))
            return load_series(Path(tmp), since_s, until_s)

    def recorded(self, kind: str, name: str, since_s: int, until_s: int) -> dict[tuple[str, int], np.ndarray]:
        rows = self._q(f"SELECT ts, symbol, probabilities FROM {self.settings.table('model_outputs')} "
                       f"WHERE model_type = '{kind}' AND model_name = '{name}' "
                       f"AND ts >= {since_s * 1_000_000} AND ts <= {until_s * 1_000_000}")
        return {(r["symbol"], _seconds(r["ts"])): np.asarray(r["probabilities"], np.float64) for r in rows
                if r["probabilities"]}

    def outcomes(self, source: str, since_s: int, until_s: int) -> list[tuple[str, int, float]]:
        rows = self._q(f"SELECT ts, symbol, rolling_accuracy FROM {self.settings.table('prediction_outcomes')} "
                       f"WHERE source = '{source}' AND ts >= {since_s * 1_000_000} AND ts <= {until_s * 1_000_000} "
                       "ORDER BY ts")
        return [(r["symbol"], _seconds(r["ts"]), float(r["rolling_accuracy"])) for r in rows]


def _seconds(ts: Any) -> int:
    """A timestamp as Parquet (ns int, datetime) or QuestDB's JSON (ISO text) gives it -> s."""
    if isinstance(ts, str):
        return int(np.datetime64(ts.rstrip("Z"), "s").astype(np.int64))
    if isinstance(ts, datetime):
        return int(ts.replace(tzinfo=ts.tzinfo or UTC).timestamp())
    return int(ts) // 1_000_000_000


@dataclass
class Retrain:
    """What one retrain of one kind did (the events say it for the tables)."""

    kind: str
    now: int
    verdict: Verdict | None
    challenger: str  # its checkpoint name ("" when not kept)
    champion: str
    seconds: float  # wall
    cpu_s: float
    peak_rss_mib: float
    samples: int
    train_from_s: int = 0
    train_to_s: int = 0
    holdout_from_s: int = 0


class Learner:
    """The retrain schedule on the data clock, champion against challenger, drift."""

    def __init__(self, settings: Settings, source: RowSource, emit: Callable[[list[ModelEvent]], None] | None = None,
                 root: Path | None = None, config: TrainConfig | None = None) -> None:
        m = settings.models
        self.settings = settings
        self.learn = m.learn
        self.source = source
        self.root = Path(root or m.dir)
        self.emit = emit or (lambda events: None)
        self.spec = LabelSpec(window_s=m.window_s, horizon_s=m.horizon_s, dead_zone_bps=m.dead_zone_bps)
        self.config = config or TrainConfig(epochs=self.learn.epochs)
        self.kinds = ["cnn", *(kind_class(k).name for k in m.kinds)]
        self.kind_specs = {"cnn": "cnn", **{kind_class(k).name: k for k in m.kinds}}
        self.state = self._read_state()
        self.history: list[Retrain] = []

    # -- the schedule ---------------------------------------------------------------------
    def _read_state(self) -> dict[str, int | None]:
        try:
            return dict(json.loads((self.root / STATE).read_text()))
        except (OSError, ValueError):
            return {"last_retrain_s": None, "last_drift_s": None}

    def _write_state(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / STATE, json.dumps(self.state))

    def due(self, now: int) -> str | None:
        """Why a retrain is due at data second `now` (None: it is not)."""
        last = self.state.get("last_retrain_s")
        if last is None or now - last >= self.learn.retrain_every_s:
            return "schedule"
        return self.drift(now)

    def drift(self, now: int) -> str | None:
        """The running cnn's rolling accuracy under the floor on every outcome of a symbol
        for drift_for_s (at most one early retrain per drift_for_s)."""
        span = self.learn.drift_for_s
        last = self.state.get("last_drift_s")
        if last is not None and now - last < span:
            return None
        h = self.spec.horizon_s
        rows = self.source.outcomes("cnn", now - span - h, now - h)  # scored by now: made h s before
        by_symbol: dict[str, list[tuple[int, float]]] = {}
        for sym, s, acc in rows:
            by_symbol.setdefault(sym, []).append((s, acc))
        for sym, xs in sorted(by_symbol.items()):
            covers = xs[0][0] <= now - span - h + 60 and xs[-1][0] >= now - h - 60
            worst = max(a for _, a in xs)
            if covers and worst < self.learn.drift_floor:
                self.state["last_drift_s"] = now
                return (f"drift: {sym}'s rolling accuracy of the cnn stayed under {self.learn.drift_floor} "
                        f"for {span} s (at most {worst:.3f})")
        return None

    def step(self) -> list[ModelEvent]:
        """One look at the data clock: a retrain of every kind if one is due."""
        now = self.source.latest()
        if now is None:
            return []
        why = self.due(now)
        return self.retrain(now, why) if why else []

    # -- a retrain ------------------------------------------------------------------------
    def retrain(self, now: int, why: str = "asked") -> list[ModelEvent]:
        """Train every kind on the rows known at `now`, challenge, promote or refuse."""
        events: list[ModelEvent] = []
        if why.startswith("drift"):
            events.append(ModelEvent(now, "cnn", "drift", "", self._running("cnn"), why, "learner"))
            log.warning(why)
        learn, spec = self.learn, self.spec
        first = now - learn.train_window_s
        try:
            series = self.source.series(first - spec.window_s - HEAT_S, now)
            samples = make_samples(series, spec, stride=learn.stride)
        except DatasetError as e:
            events.append(ModelEvent(now, "cnn", "refused", "", self._running("cnn"), f"no retrain: {e}", "learner"))
            self.state["last_retrain_s"] = now
            self._write_state()
            self.emit(events)
            return events
        h0 = now - learn.holdout_s
        log.info("retraining %s on %s..%s, holding out the seconds from %s (%s)", ", ".join(self.kinds), _iso(first),
                 _iso(now), _iso(h0), why)
        train = np.flatnonzero((samples.seconds >= first) & (samples.seconds + spec.horizon_s < h0))
        held = np.flatnonzero((samples.seconds >= h0) & (samples.direction >= 0))
        for kind in self.kinds:
            try:
                events += self._one(kind, now, why, samples, train, held)
            except Exception as e:  # noqa: BLE001 - a kind that fails costs its own retrain, not the learner
                if os.environ.get("COBFLOW_DEBUG") == "1":
                    log.exception("retrain of %s failed", kind)
                events.append(ModelEvent(now, kind, "refused", "", self._running(kind),
                                         f"retrain failed: {type(e).__name__}: {' '.join(str(e).split())[:300]}",
                                         "learner"))
        self.state["last_retrain_s"] = now  # after the retrain: one killed on its way is done again
        self._write_state()
        self.emit(events)
        return events

    def _running(self, kind: str) -> str:
        folder = self.root / kind
        if not (folder / "index.json").exists():
            return ""
        entry = CheckpointStore(self.root, kind, read_only=True).champion()
        return entry.name if entry else ""

    def _one(self, kind: str, now: int, why: str, samples: Samples, train: np.ndarray,
             held: np.ndarray) -> list[ModelEvent]:
        spec, learn = self.spec, self.learn
        if len(train) == 0 or len(held) == 0:
            return [ModelEvent(now, kind, "refused", "", self._running(kind),
                               f"too little data: {len(train)} training and {len(held)} held-out samples", "learner")]
        started, cpu0 = time.perf_counter(), time.process_time()
        mk: ModelKind = kind_class(self.kind_specs[kind], self.settings.models.kinds)()
        store = CheckpointStore(self.root, kind, self.settings.models.keep)
        champion = store.champion()
        if champion is not None and store.champion_name() is None:
            # from here the learner owns what runs: a challenger it refuses must never become
            # the flow's model by being the best by its validation metric
            store.promote(champion.name, "the running checkpoint when the learner first trained")
        train_samples = samples.take(train)
        model, metrics, extra = mk.train(train_samples, self.config, None, self.root)
        ind = held[independent(samples.seconds[held], [samples.symbols[i] for i in held], samples.direction[held],
                               spec.horizon_s)]
        mine = self._predict(kind, mk, model, samples, ind)
        theirs, recorded = None, 0
        if champion is not None:
            theirs, recorded = self._champion_calls(kind, mk, store, champion, samples, ind, now)
        if theirs is not None:  # labels the champion has no call on (neither recorded nor replayable) are not judged
            judged = np.isfinite(theirs).all(axis=1)
            ind, mine, theirs = ind[judged], mine[judged], theirs[judged]
        verdict = challenge(mine, theirs, samples.direction[ind], learn.p_value, learn.min_labels)
        meta = checkpoint_meta(mk.metric_name, spec, self.config, train_samples, metrics, trained_by="learner",
                               why=why, parent=champion.name if champion else None,
                               holdout_from=_iso(now - learn.holdout_s), holdout_to=_iso(now),
                               holdout_accuracy=verdict.challenger_score,
                               champion_holdout_accuracy=verdict.champion_score, holdout_labels=verdict.labels,
                               p_value=verdict.p_value, **extra)
        value = float(metrics.get(mk.metric_name, math.nan))
        kept = store.save(model.state_dict(), meta, value if value == value else float("-inf"), force=verdict.promote)
        events = []
        if champion is None and not verdict.promote and store.champion_name() is None:
            store.withhold(f"the learner refused {kept.name if kept else 'its first challenger'}: {verdict.reason}")
        if verdict.promote and kept is not None:
            if kind == "cnn" and learn.dqn:
                events += self._dqn_for(model, kept, train_samples, now)
            store.promote(kept.name, verdict.reason)
            if kind == "cnn" and learn.dqn and events and events[-1].event == "promoted":
                CheckpointStore(self.root, "dqn", self.settings.models.keep).promote(events[-1].checkpoint,
                                                                                     f"on cnn {kept.name}")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        r = Retrain(kind, now, verdict, kept.name if kept else "", champion.name if champion else "",
                    time.perf_counter() - started, time.process_time() - cpu0, usage.ru_maxrss / 1024, len(train),
                    int(samples.seconds[train].min()), int(samples.seconds[train].max()), now - learn.holdout_s)
        self.history.append(r)
        source = f"champion's calls: {recorded} recorded, {len(ind) - recorded} replayed" if champion else "no champion"
        reason = (f"{verdict.reason}; {why}; trained on {len(train):,} samples of "
                  f"{_iso(r.train_from_s)}..{_iso(r.train_to_s)} in {r.seconds:.1f} s ({r.cpu_s:.1f} s CPU, peak RSS "
                  f"{r.peak_rss_mib:.0f} MiB); {source}")
        event = ModelEvent(now, kind, "promoted" if verdict.promote else "refused", kept.name if kept else "",
                           r.champion, reason, "learner", verdict.challenger_score, verdict.champion_score,
                           verdict.labels, verdict.p_value)
        log.info("%s %s %s: %s", kind, event.event, event.checkpoint or "(not kept)", reason)
        return [event, *events]

    def _predict(self, kind: str, mk: ModelKind, model: Any, samples: Samples, idx: np.ndarray) -> np.ndarray:
        if len(idx) == 0:
            return np.zeros((0, 3))
        if kind == "cnn":
            return cnn_outputs(model, samples, idx)[0].astype(np.float64)
        win, heat = samples.inputs(idx)
        return np.asarray(mk.predict(model, win, heat, samples.rl[idx].astype(np.float32), np.zeros(len(idx))),
                          np.float64)

    def _champion_calls(self, kind: str, mk: ModelKind, store: CheckpointStore, champion: Entry, samples: Samples,
                        idx: np.ndarray, now: int) -> tuple[np.ndarray | None, int]:
        """The champion's probabilities on `idx`: as its rows recorded them, replayed where
        none is stored (the same inputs: the flow builds them as the dataset does)."""
        rec = self.source.recorded(kind, champion.name, now - self.learn.holdout_s, now)
        keys = [(samples.symbols[i], int(samples.seconds[i])) for i in idx]
        missing = [j for j, k in enumerate(keys) if k not in rec]
        out = np.zeros((len(idx), 3))
        for j, k in enumerate(keys):
            if k in rec:
                out[j] = rec[k]
        if missing:
            model: Any
            try:
                if kind == "cnn":
                    model, _, spec = load_cnn(store, champion)
                    if spec != self.spec:
                        raise CheckpointError(f"{champion.name} reads another label spec ({spec})")
                else:
                    state, meta = store.load(champion)
                    model = mk.load(state, meta)
                out[missing] = self._predict(kind, mk, model, samples, idx[np.array(missing)])
            except CheckpointError as e:
                log.warning("the champion %s cannot be replayed (%s): it is judged on its recorded calls only",
                            champion.name, e)
                keep = np.array([j not in set(missing) for j in range(len(idx))])
                out[~keep] = np.nan
        return out, len(idx) - len(missing)

    def _dqn_for(self, cnn: Any, cnn_entry: Entry, train_samples: Samples, now: int) -> list[ModelEvent]:
        """A dqn trained on the promoted cnn, kept (to be promoted with it: it follows its cnn)."""
        model, metrics = train_dqn(train_samples, cnn, self.config)
        meta = checkpoint_meta("val_mean_reward_bps", self.spec, self.config, train_samples, metrics,
                               trained_by="learner", cnn_checkpoint=cnn_entry.name)
        value = float(metrics["val_mean_reward_bps"])
        store = CheckpointStore(self.root, "dqn", self.settings.models.keep)
        kept = store.save(model.state_dict(), meta, value if value == value else float("-inf"), force=True)
        assert kept is not None
        running = store.champion()
        return [ModelEvent(now, "dqn", "promoted", kept.name, running.name if running else "",
                           f"trained on the promoted cnn {cnn_entry.name} (validation reward {value:.3f} bps/step)",
                           "learner")]


@dataclass(frozen=True)
class Period:
    """The seconds [start, end) of a replay, served by the cnn champion at `start`."""

    start_s: int
    end_s: int
    champion: str
    accuracy: float  # on every moved label of the period
    labels: int  # moved labels
    independent: int  # of them independent (one per symbol per horizon)
    frozen_accuracy: float  # the first champion's, on the same labels


def replay(learner: Learner, first_s: int, last_s: int,
           progress: Callable[[int], None] | None = None) -> list[Period]:
    """The learner over stored rows, on the data clock: a retrain every retrain_every_s from
    `first_s`, each period until the next served by the champion of its start (what a flow
    watching the folder would have run), scored on the period's labels beside the first
    champion frozen. What the learner decides at t reads nothing after t; the scores, which
    are the replay's report, read the labels of their period."""
    spec, every = learner.spec, learner.learn.retrain_every_s
    series = learner.source.series(first_s - learner.learn.train_window_s - spec.window_s - HEAT_S, last_s)
    everything = make_samples(series, spec, stride=learner.learn.stride)
    out: list[Period] = []
    frozen = None
    t = first_s
    while t + every <= last_s:
        learner.retrain(t, "schedule")
        store = CheckpointStore(learner.root, "cnn", read_only=True)
        if store.champion() is not None:
            model, entry, _ = load_cnn(store)
            frozen = frozen or model
            idx = np.flatnonzero((everything.seconds >= t) & (everything.seconds < t + every)
                                 & ((everything.direction == 0) | (everything.direction == 2)))
            if len(idx):
                truth = everything.direction[idx] == 2
                acc = float(np.mean(says_up(cnn_outputs(model, everything, idx)[0]) == truth))
                fro = float(np.mean(says_up(cnn_outputs(frozen, everything, idx)[0]) == truth))
                ind = independent(everything.seconds[idx], [everything.symbols[i] for i in idx],
                                  everything.direction[idx], spec.horizon_s)
                out.append(Period(t, t + every, entry.name, acc, len(idx), len(ind), fro))
        t += every
        if progress is not None:
            progress(t - first_s)
    return out


def replay_folder(settings: Settings, folder: Path, out: Path | None) -> int:
    """`cobflow learn --replay DIR`: the learner over a compute folder, printed."""
    from cobflow.progress import Progress

    root = out or Path(tempfile.mkdtemp(prefix="cobflow-learn-replay-"))
    source = FolderSource(folder)
    learner = Learner(settings, source, root=root)
    last, first_row = source.latest(), source.earliest()
    if last is None or first_row is None:
        log.error("%s: the features table is empty", folder)
        return 1
    first = first_row + learner.learn.train_window_s
    if first + learner.learn.retrain_every_s > last:
        log.error("%s holds %d s of rows: fewer than the train window (%d s) and one retrain interval (%d s)",
                  folder, last - first_row, learner.learn.train_window_s, learner.learn.retrain_every_s)
        return 1
    bar = Progress("learn --replay", last - first, " s of data")
    periods = replay(learner, first, last, bar)
    bar.finish()
    for r in learner.history:
        v = r.verdict
        print(f"{_iso(r.now)} {r.kind}: {'promoted' if v and v.promote else 'refused '} "
              + (f"challenger {v.challenger_score:.3f} vs champion {v.champion_score:.3f} on {v.labels} independent "
                 f"labels, p {v.p_value:.3g}" if v else "") + f" ({r.seconds:.1f} s, peak RSS {r.peak_rss_mib:.0f} MiB)")
    for p in periods:
        print(f"{_iso(p.start_s)}..{_iso(p.end_s)} served by {p.champion}: accuracy {p.accuracy:.3f} "
              f"(the first champion, frozen: {p.frozen_accuracy:.3f}) on {p.labels} moved labels, {p.independent} "
              "independent")
    print(f"checkpoints in {root}")
    return 0


def run(settings: Settings, once: bool = False, for_s: float | None = None) -> int:
    """`cobflow learn`: look at the data clock every poll_s; SIGTERM / SIGINT stop it between
    two looks (a retrain under way is finished, or, killed, leaves no checkpoint half-written)."""
    from cobflow.dataflows.sinks.questdb import RowWriter
    from cobflow.dataflows.sinks.rows import model_event_row
    from cobflow.tables import MODEL_EVENTS

    writer: list[RowWriter] = []

    def emit(events: list[ModelEvent]) -> None:
        if not events:
            return
        try:
            if not writer:
                writer.append(RowWriter(settings.questdb, [MODEL_EVENTS]))
            writer[0].write([model_event_row(e) for e in events])
        except Exception as e:  # noqa: BLE001 - the rows are a report; the checkpoints are what counts
            log.warning("model_events rows not written (QuestDB: %s)", " ".join(str(e).split())[:200])
            writer.clear()

    learner = Learner(settings, QuestDBSource(settings), emit)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    deadline = None if for_s is None else time.monotonic() + for_s
    log.info("learning from %s every %d s of data (window %d s, holdout %d s); checkpoints in %s",
             settings.questdb.host, learner.learn.retrain_every_s, learner.learn.train_window_s,
             learner.learn.holdout_s, learner.root)
    while not stop.is_set():
        if once:
            now = learner.source.latest()
            if now is None:
                log.error("no features rows in QuestDB yet: nothing to learn from")
                return 1
            learner.retrain(now, "asked")
            return 0
        try:
            learner.step()
        except Exception as e:  # noqa: BLE001 - QuestDB away, a disk full: said in a line, tried again next look
            if os.environ.get("COBFLOW_DEBUG") == "1":
                log.exception("a look at the data failed")
            log.warning("no retrain this time (%s: %s); trying again in %.0f s", type(e).__name__,
                        " ".join(str(e).split())[:300], learner.learn.poll_s)
        if deadline is not None and time.monotonic() >= deadline:
            break
        stop.wait(learner.learn.poll_s if deadline is None else min(learner.learn.poll_s,
                                                                   max(0.0, deadline - time.monotonic())))
    return 0
