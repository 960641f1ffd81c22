"""The learner beside the strategy flow on real Kafka and QuestDB (issue 34): `cobflow learn`
(the compose service's command) retrains from the stored rows and promotes; the flow
following Kafka swaps the promoted cnn and its dqn in at a second boundary without a
restart, keeps one decision per symbol-second, records the checkpoints in its rows, and
runs the same model after a restart; a learner killed mid-training leaves no checkpoint
half-written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cobflow.app.learn import QuestDBSource
from cobflow.models.checkpoints import CheckpointStore
from cobflow.models.dataset import LabelSpec
from cobflow.qdb import query, wait_for_wal
from tests.integration.helpers import cobflow, second
from tests.integration.test_compose_commands import TESTED_COMMANDS, local, start, stop, wait_for
from tests.modeltools import seeded_checkpoints

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
START = 1_767_225_600  # the simulator's first second
NS = 1_000_000_000


def split(capture: Path, cuts: list[int]) -> list[Path]:
    """The capture's lines cut at these market seconds (ts_recv): consecutive parts."""
    parts: list[list[str]] = [[] for _ in range(len(cuts) + 1)]
    for line in capture.read_text().splitlines():
        t = json.loads(line)["ts_recv"] // NS
        parts[sum(t >= c for c in cuts)].append(line)
    out = []
    for i, lines in enumerate(parts):
        p = capture.with_name(f"part{i}.jsonl")
        p.write_text("\n".join(lines) + "\n")
        out.append(p)
    return out


def q(settings, sql: str) -> list[dict]:
    try:
        return query(settings.questdb, sql)
    except RuntimeError:
        return []  # the table is not there yet


def newest(settings) -> int:
    rows = q(settings, f"SELECT max(ts) t FROM {settings.questdb.table('features')}")
    return second(rows[0]["t"]) if rows and rows[0]["t"] else 0


def test_the_learner_promotes_and_the_following_flow_swaps_keeps_every_second_and_survives_a_restart(
        namespace, tmp_path):
    settings, env = namespace
    models = seeded_checkpoints(tmp_path / "models", LabelSpec())
    champion = CheckpointStore(models, "cnn").champion().name
    env.update({"COBFLOW_MODELS__DIR": str(models), "COBFLOW_SYMBOLS_FILE": str(CONFIG),
                "COBFLOW_MODELS__LEARN__RETRAIN_EVERY_S": "600", "COBFLOW_MODELS__LEARN__TRAIN_WINDOW_S": "1500",
                "COBFLOW_MODELS__LEARN__HOLDOUT_S": "600", "COBFLOW_MODELS__LEARN__MIN_LABELS": "10",
                # the test's level is loose: the statistics are tested in tests/unit; here the mechanics
                "COBFLOW_MODELS__LEARN__P_VALUE": "0.5", "COBFLOW_MODELS__LEARN__EPOCHS": "3",
                "COBFLOW_MODELS__LEARN__POLL_S": "1"})
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "simulate", "--duration", "1560", "--seed", "71", "--alpha", "1", "--out", str(capture))
    first, second_part, third = split(capture, [START + 1260, START + 1410])
    recovery, log = tmp_path / "recovery", tmp_path / "log.txt"
    with log.open("w") as out:
        cobflow(env, "replay", str(first))
        flow = start(local(["cobflow", "run", "strategy", "--follow", "--recovery", str(recovery)]), env, out)
        try:
            wait_for(lambda: newest(settings) >= START + 1250, 240, "the flow through the first part", log)
            learner = start(local(TESTED_COMMANDS["learner"]), env, out)
            try:
                wait_for(lambda: q(settings, f"SELECT * FROM {settings.questdb.table('model_events')} "
                                             "WHERE source = 'learner' AND kind = 'cnn'"), 240,
                         "the learner's verdict", log)
            finally:
                assert stop(learner) in (0, 130, -signal.SIGINT)
            [verdict] = q(settings, f"SELECT * FROM {settings.questdb.table('model_events')} "
                                    "WHERE source = 'learner' AND kind = 'cnn'")
            assert verdict["event"] == "promoted", verdict
            assert verdict["running"] == champion and verdict["labels"] >= 10
            assert 0 <= verdict["p_value"] < 0.5 and verdict["challenger_score"] > verdict["champion_score"]
            # the champion was judged on the calls the flow recorded for it (model_outputs), not replayed
            recorded = re.search(r"champion's calls: (\d+) recorded, (\d+) replayed", verdict["reason"])
            assert recorded and int(recorded.group(1)) >= 10 and int(recorded.group(2)) == 0, verdict["reason"]
            # what drift reads: the running cnn's scored outcomes, as the flow wrote them
            outcomes = QuestDBSource(settings).outcomes("cnn", START, START + 1260)
            assert len(outcomes) > 100 and {s for s, _, _ in outcomes} == {"BTC-USD", "ETH-USD"}
            assert all(0.0 <= a <= 1.0 for _, _, a in outcomes)
            promoted = verdict["checkpoint"]
            assert CheckpointStore(models, "cnn").champion().name == promoted
            dqn = CheckpointStore(models, "dqn").champion()
            assert dqn.meta["cnn_checkpoint"] == promoted  # the dqn follows its cnn
            # the learner never trained on its held-out seconds
            meta = CheckpointStore(models, "cnn").champion().meta
            assert meta["data_to"] < meta["holdout_from"] and meta["parent"] == champion
            # more market: the running flow swaps at a second boundary, without a restart
            cobflow(env, "replay", str(second_part))
            wait_for(lambda: newest(settings) >= START + 1400, 120, "the flow through the second part", log)
            time.sleep(8)  # a snapshot (every 5 s) after the swap: the restart below resumes past it
        finally:
            assert stop(flow) in (0, 130, -signal.SIGINT)
        swaps = q(settings, f"SELECT * FROM {settings.questdb.table('model_events')} WHERE source = 'flow'")
        assert {(r["kind"], r["event"], r["checkpoint"]) for r in swaps} == {
            ("cnn", "swapped", promoted), ("dqn", "swapped", dqn.name)}
        # a restart (from the recovery store) runs the promoted model, and swaps nothing
        flow = start(local(["cobflow", "run", "strategy", "--follow", "--recovery", str(recovery)]), env, out)
        try:
            cobflow(env, "replay", str(third))
            wait_for(lambda: newest(settings) >= START + 1550, 180, "the flow through the third part", log)
        finally:
            assert stop(flow) in (0, 130, -signal.SIGINT)
    assert "Traceback" not in log.read_text()
    wait_for_wal(settings.questdb, [settings.questdb.table(t) for t in ("model_outputs", "decisions", "features",
                                                                        "model_events")])
    assert len(q(settings, f"SELECT * FROM {settings.questdb.table('model_events')} WHERE source = 'flow'")) == 2
    outs = q(settings, f"SELECT symbol, ts, model_name FROM {settings.questdb.table('model_outputs')} "
                       "WHERE model_type = 'cnn' ORDER BY ts")
    for symbol in ("BTC-USD", "ETH-USD"):
        names = [r["model_name"] for r in outs if r["symbol"] == symbol]
        assert promoted in names, (symbol, len(names), sorted(set(names)))
        k = names.index(promoted)
        assert set(names[:k]) == {champion} and set(names[k:]) == {promoted}, symbol
        first_new = min(second(r["ts"]) for r in outs if r["symbol"] == symbol and r["model_name"] == promoted)
        # the first seconds the flow closed after the promotion: the second part's first ones,
        # or the first part's last if the market's lateness still held them open
        assert START + 1250 <= first_new <= START + 1275
    # every symbol-second with features has exactly one decision (the dedup keys hold doubles out: count them too)
    feats = {(r["symbol"], r["ts"]) for r in q(settings, f"SELECT symbol, ts FROM {settings.questdb.table('features')}")}
    decided = [(r["symbol"], r["ts"]) for r in q(settings, f"SELECT symbol, ts FROM {settings.questdb.table('decisions')}")]
    assert len(decided) == len(set(decided)) and set(decided) == feats
    heard = q(settings, f"SELECT models FROM {settings.questdb.table('decisions')} WHERE ts >= {(START + 1420) * 10**6}")
    assert heard and all(f"cnn:{promoted}" in r["models"] for r in heard if r["models"])


def test_a_learner_killed_mid_training_leaves_no_half_written_checkpoint(namespace, tmp_path):
    settings, env = namespace
    models = tmp_path / "models"
    env.update({"COBFLOW_MODELS__DIR": str(models), "COBFLOW_SYMBOLS_FILE": str(CONFIG),
                "COBFLOW_MODELS__LEARN__TRAIN_WINDOW_S": "900", "COBFLOW_MODELS__LEARN__HOLDOUT_S": "300",
                "COBFLOW_MODELS__LEARN__MIN_LABELS": "1", "COBFLOW_MODELS__LEARN__P_VALUE": "0.99",
                "COBFLOW_MODELS__LEARN__EPOCHS": "30", "COBFLOW_MODELS__LEARN__POLL_S": "1"})
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "simulate", "--duration", "900", "--seed", "72", "--alpha", "1", "--out", str(capture))
    cobflow(env, "replay", str(capture))
    cobflow(env, "run", "cob")  # the rows the learner reads (features among them), to the end of the topics
    log = tmp_path / "log.txt"
    kills = 0
    with log.open("w") as out:
        for delay in (0.5, 2.0, 4.0):  # killed at three points of its work
            (models / "learner.json").unlink(missing_ok=True)  # due again at once
            before = log.read_text().count("retraining")
            learner = subprocess.Popen(local(TESTED_COMMANDS["learner"]), env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            wait_for(lambda n=before: log.read_text().count("retraining") > n, 120, "a retrain under way", log)
            time.sleep(delay)
            os.killpg(learner.pid, signal.SIGKILL)
            learner.wait(10)
            kills += 1
            for kind in ("cnn", "dqn"):
                if (models / kind).is_dir():  # what a reader finds: every indexed checkpoint whole
                    for e in CheckpointStore(models, kind, read_only=True).entries:
                        CheckpointStore(models, kind, read_only=True).load(e)
    assert kills == 3
    # the next writer removes what the kills left on the way, and every file left is a whole, indexed one
    for kind in ("cnn", "dqn"):
        if (models / kind).is_dir():
            store = CheckpointStore(models, kind)
            assert not list((models / kind).glob("*.tmp"))
            assert {p.stem for p in (models / kind).glob("*.pt")} == {e.name for e in store.entries}
            for e in store.entries:
                store.load(e)
