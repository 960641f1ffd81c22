"""`cobflow train` and `cobflow models list`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err, positive_int

KINDS = ("cnn", "dqn")  # the built-ins (cobflow.models.registry; torch is imported only when a command runs)


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.training import train
    from cobflow.models.checkpoints import CheckpointError
    from cobflow.models.dataset import DatasetError
    from cobflow.models.train import TrainConfig
    from cobflow.times import parse_time

    if args.input is not None and not args.input.is_dir():
        return err(f"{args.input}: no such folder (give a `cobflow compute --out` folder)")
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    config = TrainConfig(epochs=args.epochs, seed=args.seed)
    try:
        r = train(settings, args.kind, args.input, since, until, args.out, config, stride=args.stride,
                  progress=not args.quiet)
    except (DatasetError, CheckpointError, ValueError) as exc:
        return err(str(exc))
    metric = r.metric_name
    ind = r.metrics.get("val_independent_labels")
    print(f"trained {r.kind} in {r.seconds:.1f} s: {metric} {r.metrics[metric]:.4f} "
          f"(train loss {r.metrics['train_loss']:.4f}; {r.metrics['samples_train']:,} training and "
          f"{r.metrics['samples_valid']:,} validation samples"
          + (f", {ind:,} of them independent labels (one per symbol per horizon): accuracy "
             f"{r.metrics['val_independent_accuracy']:.4f}; best epoch {r.metrics['best_epoch']}" if ind is not None
             else "") + ")")
    print(f"kept as {r.kept.name}" if r.kept else "not kept: the top checkpoints are all better")
    return 0


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.models.checkpoints import list_checkpoints

    root = args.dir or settings.models.dir
    found = list_checkpoints(root)
    if args.json:  # full precision, for scripts
        import json

        ranks: dict[str, int] = {}
        rows = []
        for kind, e in found:
            ranks[kind] = ranks.get(kind, 0) + 1
            rows.append({"kind": kind, "rank": ranks[kind], "checkpoint": e.name, "metric": e.metric, **e.meta})
        print(json.dumps(rows, indent=1, sort_keys=True, default=str))
        return 0
    if not found:
        print(f"no checkpoints in {root} (cobflow train cnn --input DIR)")
        return 0
    from cobflow.models.checkpoints import CheckpointStore

    print(f"  {'kind':5s} {'rank':4s} {'checkpoint':36s} {'metric':28s} {'data':42s} layout")
    rank: dict[str, int] = {}
    running = {kind: CheckpointStore(root, kind, read_only=True).champion() for kind in {k for k, _ in found}}
    for kind, e in found:
        rank[kind] = rank.get(kind, 0) + 1
        m = e.meta
        mark = "*" if running[kind] is not None and running[kind].name == e.name else " "  # type: ignore[union-attr]
        print(f"{mark} {kind:5s} {rank[kind]:<4d} {e.name:36s} {m.get('metric_name', '?')[:18]:18s} {e.metric:9.4f} "
              f"{m.get('data_from', '?')} - {m.get('data_to', '?')}  {m.get('layout')}")
    print("* the champion: what the flow runs (promoted by `cobflow learn` or `cobflow models promote`, else the best)")
    return 0


def cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.models.checkpoints import CheckpointError, CheckpointStore

    root = args.dir or settings.models.dir
    kind = args.checkpoint.rsplit("-", 2)[0]
    if not (root / kind / "index.json").exists():
        return err(f"{args.checkpoint}: no {kind} checkpoints in {root} (cobflow models list)")
    try:
        CheckpointStore(root, kind, settings.models.keep).promote(args.checkpoint, "by hand")
    except CheckpointError as exc:
        return err(str(exc))
    print(f"{args.checkpoint} is the {kind} champion: a strategy flow following Kafka swaps to it within a second")
    return 0


def cmd_learn(args: argparse.Namespace, settings: Settings) -> int:
    import logging
    import sys

    from cobflow.app.learn import replay_folder, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if args.replay is not None:
        if not (args.replay / "features").is_dir():
            return err(f"{args.replay}: not a `cobflow compute` output folder (no features/ in it)")
        return replay_folder(settings, args.replay, args.out)
    return run(settings, once=args.once, for_s=args.for_s)


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "train", "train a model kind on stored features; keep the top checkpoints", cmd_train)
    s.add_argument("kind", help=f"{', '.join(KINDS)} (cnn first: the dqn reads the best cnn's outputs), a kind "
                                "named in COBFLOW_MODELS__KINDS, or your module:Class (a cobflow.models.kinds.ModelKind)")
    s.add_argument("--input", type=Path, metavar="DIR", help="a `cobflow compute` output folder (default: QuestDB)")
    s.add_argument("--from", dest="since", metavar="T", help="QuestDB: rows from T (ISO 8601 or ns)")
    s.add_argument("--to", dest="until", metavar="T", help="QuestDB: rows before T")
    s.add_argument("--out", "--output", type=Path, metavar="DIR",
                   help="checkpoint folder (default: COBFLOW_MODELS__DIR)")
    s.add_argument("--epochs", type=positive_int, default=8, help="passes over the training samples (default 8)")
    s.add_argument("--seed", type=int, default=7,
                   help="torch's seed: the same rows and seed train the same model (default 7)")
    s.add_argument("--stride", type=positive_int, default=2, help="one sample every N seconds")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    m = command(sub, "models", "model checkpoints")
    msub = m.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = command(msub, "list", "the kept checkpoints of each kind, best first, with their metrics", cmd_models_list)
    ls.add_argument("--dir", type=Path, help="checkpoint folder (default: COBFLOW_MODELS__DIR)")
    ls.add_argument("--json", action="store_true", help="the checkpoints and their metadata as JSON, full precision")
    lr = command(sub, "learn", "retrain the models from the stored rows on a schedule; promote a challenger only "
                 "when it beats the running model on the latest held-out seconds", cmd_learn)
    lr.add_argument("--once", action="store_true", help="one retrain now (on the newest rows), then exit")
    lr.add_argument("--for", dest="for_s", type=float, default=None, metavar="SECONDS",
                    help="stop after this long (default: until Ctrl-C or SIGTERM)")
    lr.add_argument("--replay", type=Path, metavar="DIR",
                    help="what the learner would have done over a `cobflow compute` folder, on its data clock: "
                         "each retrain's verdict and each period's accuracy (checkpoints to --out)")
    lr.add_argument("--out", "--output", type=Path, metavar="DIR",
                    help="--replay: the checkpoint folder it fills (default: a new temporary folder)")
    pr = command(msub, "promote", "make a kept checkpoint the one the flow runs (its kind's champion)",
                 cmd_models_promote)
    pr.add_argument("checkpoint", help="a checkpoint's name (cobflow models list)")
    pr.add_argument("--dir", type=Path, help="checkpoint folder (default: COBFLOW_MODELS__DIR)")
