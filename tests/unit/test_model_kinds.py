"""Model kinds as plug-ins (cobflow.models.kinds): a third kind written outside the package
(examples/models/logreg.py) trains with `cobflow train module:Class`, keeps its top-k
checkpoints, runs in the strategy flow in one batched call a round, and reaches a user's
strategy as ctx.models; its outputs equal the checkpoint's formula computed here with numpy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cobflow.config import StrategySettings, TradingSettings, load_settings
from cobflow.dataflows.sinks.parquet import write_tables
from cobflow.models.kinds import ModelKind
from cobflow.operators.strategy import StrategyOptions
from cobflow.strategy import Context, Intent, Strategy
from cobflow.tables import TABLES
from tests.rowtools import run_cob
from tests.simdata import sim
from tests.unit.test_strategy import SPEC, SYMBOLS

KIND = "examples.models.logreg:LogReg"
VENUES = ("binance", "kraken", "okx", "coinbase", "bybit")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Ten minutes of a market with the planted signal, stored as `cobflow compute` stores it."""
    rows, _ = run_cob(sim(600.0, seed=91, venues=VENUES, alpha=1.0), SYMBOLS)
    out = tmp_path_factory.mktemp("rows")
    names = ("features", "cob_summary", "cob_buckets", "pivots")
    write_tables(out, [TABLES[t] for t in names], [r for r in rows if r.table in names])
    return out


@pytest.fixture(scope="module")
def trained(stored, tmp_path_factory):
    from cobflow.app.training import train
    from cobflow.models.train import TrainConfig

    models = tmp_path_factory.mktemp("models")
    settings = load_settings(models={"dir": str(models), "keep": 2, "window_s": SPEC.window_s,
                                     "horizon_s": SPEC.horizon_s})
    results = [train(settings, KIND, stored, None, None, None, TrainConfig(epochs=4, seed=seed), progress=False)
               for seed in (1, 2, 3)]
    return models, results


def test_a_kind_from_outside_trains_and_keeps_its_top_k(trained):
    models, results = trained
    assert {r.kind for r in results} == {"logreg"} and {r.metric_name for r in results} == {"val_directional_accuracy"}
    index = json.loads((models / "logreg" / "index.json").read_text())
    kept = index["checkpoints"]
    assert len(kept) == 2 and sorted(p.stem for p in (models / "logreg").glob("*.pt")) == sorted(e["name"] for e in kept)
    assert [e["metric"] for e in kept] == sorted((e["metric"] for e in kept), reverse=True)
    best = sorted((r.metrics["val_directional_accuracy"] for r in results), reverse=True)[:2]
    assert [e["metric"] for e in kept] == pytest.approx(best)
    meta = kept[0]["meta"]
    assert meta["kind_class"] == KIND and meta["metric_name"] == "val_directional_accuracy"
    assert meta["metrics"]["independent_labels_valid"] >= 1 and meta["metrics"]["samples_valid"] > 0


class FollowLogReg(Strategy):
    """Buys when the logistic regression says up, sells when it says down."""

    models = ("logreg",)

    def on_second(self, ctx: Context) -> Intent | None:
        for m in ctx.models:
            if m.kind == "logreg" and m.direction:
                return Intent.buy(m.confidence) if m.direction > 0 else Intent.sell(m.confidence)
        return None


def test_the_flow_runs_the_kind_and_a_strategy_reads_it(trained):
    models, _ = trained
    opts = StrategyOptions(SPEC, models, StrategySettings(name="tests.unit.test_model_kinds:FollowLogReg"), (KIND,))
    rows, dead = run_cob(sim(120.0, seed=92, venues=VENUES, alpha=1.0), SYMBOLS, strategy=opts,
                         trading=TradingSettings(min_order_notional=0.0))
    assert not dead
    outs = [r for r in rows if r.table == "model_outputs"]
    assert outs and {r.symbols["model_type"] for r in outs} == {"logreg"}  # no cnn trained in this folder
    # the best checkpoint's formula, computed here: softmax(W (x - mean) / std + b) of the second's cnn vector
    best = json.loads((models / "logreg" / "index.json").read_text())["checkpoints"][0]["name"]
    state = torch.load(models / "logreg" / f"{best}.pt", weights_only=True)["state_dict"]
    w, b = state["linear.weight"].numpy().astype(np.float64), state["linear.bias"].numpy().astype(np.float64)
    mean, std = state["mean"].numpy().astype(np.float64), state["std"].numpy().astype(np.float64)
    vectors = {(r.symbols["symbol"], r.ts): np.asarray(r.columns["cnn"], np.float64) for r in rows
               if r.table == "features"}
    for r in outs:
        z = w @ ((vectors[(r.symbols["symbol"], r.ts)] - mean) / std) + b
        p = np.exp(z - z.max())
        p /= p.sum()
        assert r.symbols["model_name"] == best
        assert r.columns["probabilities"] == pytest.approx(p, abs=2e-5)
        assert r.columns["direction"] == ("down", "flat", "up")[int(np.argmax(p))]
    # the strategy heard it: each BUY or SELL follows the model's call of the same second
    said = {(r.symbols["symbol"], r.ts): r.columns["direction"] for r in outs}
    acted = [(d.columns["action"], said[(d.symbols["symbol"], d.ts)]) for d in rows
             if d.table == "decisions" and d.columns["action"] != "HOLD"]
    assert acted and all((a, s) in (("BUY", "up"), ("SELL", "down")) for a, s in acted)


def test_an_unknown_kind_is_refused_in_one_line(capsys, stored):
    from cobflow.app.cli import main

    assert main(["train", "nosuchpkg.kinds:X", "--input", str(stored)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model kind 'nosuchpkg.kinds:X': cannot import nosuchpkg.kinds" in err[0]
    assert main(["train", "lstm", "--input", str(stored)]) == 2
    assert "model kind 'lstm': not one of cnn, dqn and not module:Class" in capsys.readouterr().err


class Broken(ModelKind):
    """A kind whose checkpoint loads but whose predictions are nonsense or raise."""

    name = "logreg"  # reads the logreg checkpoints trained above

    def load(self, state, meta):
        return torch.nn.Identity()

    def predict(self, model, windows, heat, rl, position):
        if int(windows[:, -1, 0].sum() * 1e6) % 2:
            raise RuntimeError("bad\nbatch")
        return np.full((len(windows), 3), np.nan)


def test_a_kind_that_raises_or_answers_nan_costs_its_outputs_never_the_flow(trained):
    models, _ = trained
    opts = StrategyOptions(SPEC, models, StrategySettings(name="tests.unit.test_model_kinds:FollowLogReg"),
                           ("tests.unit.test_model_kinds:Broken",))
    rows, dead = run_cob(sim(60.0, seed=94, venues=VENUES, alpha=1.0), SYMBOLS, strategy=opts,
                         trading=TradingSettings(min_order_notional=0.0))
    assert not [r for r in rows if r.table == "model_outputs"]
    mine = [d for d in dead if d.stage == "model"]
    assert mine and all(d.reason.startswith("models: Broken.predict raised ") and "\n" not in d.reason for d in mine)
    assert any("RuntimeError: bad batch" in d.reason for d in mine)
    assert any("not (2, 3) finite probabilities" in d.reason for d in mine)
    decisions = [d for d in rows if d.table == "decisions"]
    assert len(decisions) > 50 and {d.columns["action"] for d in decisions} == {"HOLD"}  # heard nothing, went on


def test_models_list_prints_a_table_and_json_gives_the_index_whole(tmp_path, capsys):
    import json

    from cobflow.app.cli import main
    from tests.modeltools import seeded_checkpoints

    root = seeded_checkpoints(tmp_path / "models")
    assert main(["models", "list", "--dir", str(root)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["kind", "rank", "checkpoint"] and len(table) == 4
    assert [line.split()[:3] for line in table[1:3]] == [["*", "cnn", "1"], ["*", "dqn", "1"]]  # * the champions
    assert table[3].startswith("* the champion: what the flow runs")
    assert main(["models", "list", "--dir", str(root), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    index = {k: json.loads((root / k / "index.json").read_text()) for k in ("cnn", "dqn")}
    assert [(g["kind"], g["rank"], g["metric"]) for g in got] == [("cnn", 1, 0.5), ("dqn", 1, 0.0)]
    for g in got:  # every metadata key of the checkpoint, as stored
        [entry] = [e for e in index[g["kind"]]["checkpoints"] if e["name"] == g["checkpoint"]]
        assert all(g[k] == v for k, v in entry["meta"].items()), (g, entry)
