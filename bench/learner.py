"""Models that keep learning, measured: what the cnn learns out of sample on each simulated
market, and the learner through a regime change, with its cost per retrain.

Three parts, in one run:
- oos: the cnn trained on one simulated hour and scored on another (other seeds), on the
  planted signals (touch: the aggressor mix and the touch sizes; depth: only the sizes added
  away from the touch), on the same trending market without a planted signal (what the
  trend alone lets a model learn: momentum), and on a driftless walk; the accuracy on every
  moved label and on the independent ones (one per symbol per horizon), with their counts;
- regime: a lead-lag market (the book shows the latent trend a minute before the price
  follows it; trends last 30 s on average, so past returns say little) whose planted
  signal reverses sign halfway (`--flip-at`), replayed
  through `cobflow.app.learn.replay`: a retrain every --every s of data on the last --window
  s, challenger against champion on the last --holdout s; each period served by the
  champion of its start, scored beside the first champion frozen; the verdicts (scores,
  independent labels, p) and each retrain's wall time, CPU time and peak RSS;
- day: one retrain with the default settings (a day of rows) on a simulated day: its cost.

    python bench/learner.py                          # every part (about 40 min on 2 cores)
    python bench/learner.py --part day               # the default retrain's cost, on a simulated day
    python bench/learner.py --part regime --hours 3 --symbols 4

Writes bench/results/learner.json and docs/images/learning.png (the loop, and the regime
replay's accuracy). Simulated data is cached under .cobflow/bench-learner/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / ".cobflow" / "bench-learner"
E2E = ROOT / "tests" / "data" / "cob_e2e.yaml"
START = 1_767_225_600
BASES = ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "LTC", "BNB")


def symbols_file(n: int) -> Path:
    """n symbols on five venues each (the USDT books converted at coinbase's USDT-USD)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"symbols-{n}.yaml"
    lines = ["symbols:"]
    for base in BASES[:n]:
        lines += [f"  {base}-USD:", "    bucket: 2bps",
                  f"    venues: {{binance: {base}-USDT, coinbase: {base}-USD, okx: {base}-USDT, bybit: {base}-USDT, "
                  f"kraken: {base}/USD}}", "    quote: {USDT: {market: coinbase:USDT-USD}}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def market(name: str, symbols: Path, seconds: int, **sim) -> Path:
    """A simulated market through `cobflow compute` (cached by name)."""
    from cobflow.app.compute import compute
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    folder = CACHE / name
    if (folder / "features").is_dir():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    capture = CACHE / f"{name}.jsonl"
    t = time.perf_counter()
    simulate_to_file(load_symbols(symbols), SimConfig(duration_s=seconds, **sim), capture)
    compute(load_settings(symbols_file=symbols), capture, folder, progress=False)
    capture.unlink()
    print(f"  {name}: simulated and computed in {time.perf_counter() - t:.0f} s", flush=True)
    return folder


def oos() -> list[dict]:
    from cobflow.models.dataset import DOWN, UP, LabelSpec, load_series, make_samples
    from cobflow.models.promotion import independent
    from cobflow.models.train import TrainConfig, cnn_outputs, directional_accuracy, train_cnn

    spec = LabelSpec()
    sym = ROOT / "tests" / "data" / "learn_symbols.yaml"
    rows = []
    for name, sim in (("touch", {"alpha": 1.0}), ("depth", {"alpha": 1.0, "signal": "depth"}),
                      ("trend, no planted signal", {"alpha": 0.0}),
                      ("driftless", {"alpha": 0.0, "trend_scale": 0.0}),
                      ("touch, trend x0.25", {"alpha": 1.0, "trend_scale": 0.25}),
                      ("trend x0.25, no planted signal", {"alpha": 0.0, "trend_scale": 0.25}),
                      ("touch, lead-lag", {"alpha": 1.0, "trend_every_s": 30.0, "lead_s": 60.0}),
                      ("lead-lag, no planted signal", {"alpha": 0.0, "trend_every_s": 30.0, "lead_s": 60.0})):
        key = name.replace(", ", "-").replace(" ", "_")
        a = market(f"oos-{key}-51", sym, 3600, seed=51, **sim)
        b = market(f"oos-{key}-52", sym, 3600, seed=52, **sim)
        t = time.perf_counter()
        model, _ = train_cnn(make_samples(load_series(a), spec, stride=2), TrainConfig(epochs=6))
        test = make_samples(load_series(b), spec, stride=2)
        probs, _, _ = cnn_outputs(model, test)
        ind = independent(test.seconds, test.symbols, test.direction, spec.horizon_s)
        moved = int(((test.direction == UP) | (test.direction == DOWN)).sum())
        row = {"market": name, "accuracy": directional_accuracy(probs, test.direction), "moved_labels": moved,
               "independent_labels": int(len(ind)),
               "independent_accuracy": directional_accuracy(probs[ind], test.direction[ind]),
               "train_s": time.perf_counter() - t}
        print(f"  {name:32s} accuracy {row['accuracy']:.3f} on {moved} moved labels; {len(ind)} independent: "
              f"{row['independent_accuracy']:.3f}", flush=True)
        rows.append(row)
    return rows


def regime(args: argparse.Namespace) -> dict:
    from cobflow.app.learn import FolderSource, Learner, replay
    from cobflow.config import load_settings

    sym = symbols_file(args.symbols)
    seconds = int(args.hours * 3600)
    flip = seconds // 2
    folder = market(f"regime-{args.symbols}-{seconds}-{args.alpha:g}-{args.trend:g}-{args.trend_every:g}-{args.lead:g}",
                    sym,
                    seconds, seed=61, alpha=args.alpha, trend_scale=args.trend, alpha_flip_s=flip,
                    trend_every_s=args.trend_every, lead_s=args.lead)
    models = CACHE / "regime-models"
    shutil.rmtree(models, ignore_errors=True)
    settings = load_settings(symbols_file=sym, models={"dir": str(models), "learn": {
        "retrain_every_s": args.every, "train_window_s": args.window, "holdout_s": args.holdout,
        "min_labels": args.min_labels, "epochs": 8, "stride": args.stride, "dqn": False}})
    learner = Learner(settings, FolderSource(folder))
    t = time.perf_counter()
    periods = replay(learner, START + args.window, START + seconds)
    wall = time.perf_counter() - t
    out_periods = [{"from_min": (p.start_s - START) / 60, "to_min": (p.end_s - START) / 60, "champion": p.champion,
                    "accuracy": p.accuracy, "frozen_accuracy": p.frozen_accuracy, "moved_labels": p.labels,
                    "independent_labels": p.independent} for p in periods]
    verdicts = [{"at_min": (r.now - START) / 60, "promoted": bool(r.verdict and r.verdict.promote),
                 "challenger": r.verdict.challenger_score if r.verdict else None,
                 "champion": r.verdict.champion_score if r.verdict else None,
                 "independent_labels": r.verdict.labels if r.verdict else None,
                 "p_value": r.verdict.p_value if r.verdict else None, "wall_s": r.seconds, "cpu_s": r.cpu_s,
                 "peak_rss_mib": r.peak_rss_mib, "samples": r.samples} for r in learner.history]
    for p in out_periods:
        print(f"  {p['from_min']:5.0f}-{p['to_min']:<5.0f} min  served {p['accuracy']:.3f}  frozen "
              f"{p['frozen_accuracy']:.3f}  ({p['moved_labels']} moved labels, {p['independent_labels']} independent)"
              f"  {p['champion']}")
    for v in verdicts:
        print(f"  retrain at {v['at_min']:5.0f} min: {'promoted' if v['promoted'] else 'refused '} challenger "
              f"{v['challenger']:.3f} vs {v['champion']:.3f} on {v['independent_labels']} labels, p {v['p_value']:.3g};"
              f" {v['wall_s']:.1f} s wall, {v['cpu_s']:.1f} s CPU, peak RSS {v['peak_rss_mib']:.0f} MiB")
    after = [p for p in out_periods if p["from_min"] * 60 >= flip]
    recovered = next((i + 1 for i, p in enumerate(after) if p["accuracy"] > 0.55), None)
    return {"symbols": args.symbols, "venues_each": 5, "hours": args.hours, "trend_scale": args.trend,
            "trend_every_s": args.trend_every, "lead_s": args.lead, "min_labels": args.min_labels,
            "alpha": args.alpha, "stride": args.stride,
            "flip_min": flip / 60, "every_s": args.every, "window_s": args.window, "holdout_s": args.holdout,
            "periods": out_periods, "verdicts": verdicts, "replay_wall_s": wall,
            "retrains_after_flip_until_served_above_0_55": recovered,
            "frozen_after_flip": sum(p["frozen_accuracy"] * p["moved_labels"] for p in after) /
            max(1, sum(p["moved_labels"] for p in after))}


def day() -> dict:
    """One retrain with the default settings (a day of rows, an hour held out, 8 epochs at
    most, the dqn on a promoted cnn) on a simulated day of 2 symbols x 5 venues: its cost."""
    from cobflow.app.learn import FolderSource, Learner
    from cobflow.config import load_settings

    folder = market("day-2", E2E, 86400, seed=71, alpha=1.0)
    models = CACHE / "day-models"
    shutil.rmtree(models, ignore_errors=True)
    learner = Learner(load_settings(symbols_file=E2E, models={"dir": str(models)}), FolderSource(folder))
    t = time.perf_counter()
    events = learner.retrain(START + 86400 - 1, "bench")
    wall = time.perf_counter() - t
    [r] = learner.history
    out = {"wall_s": wall, "train_and_judge_wall_s": r.seconds, "train_and_judge_cpu_s": r.cpu_s,
           "read_rows_wall_s": wall - r.seconds, "peak_rss_mib": r.peak_rss_mib, "training_samples": r.samples,
           "events": [(e.kind, e.event, e.challenger_score, e.labels, e.p_value) for e in events]}
    print(f"  a day's retrain: {wall:.0f} s wall: reading the rows {wall - r.seconds:.0f} s, training and judging "
          f"the cnn and training its dqn {r.seconds:.0f} s ({r.cpu_s:.0f} s CPU) on {r.samples:,} samples; peak RSS "
          f"{r.peak_rss_mib:.0f} MiB; {', '.join(f'{k} {e}' for k, e, *_ in out['events'])}")
    return out


def picture(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, (loop, acc) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1, 1.25]})
    loop.set_xlim(0, 10)
    loop.set_ylim(0, 10)
    loop.axis("off")
    boxes = {"data": (5, 8.6, "market data\n-> features (QuestDB)"),
             "flow": (8.3, 5.6, "strategy flow:\nthe champion predicts\nonce a second"),
             "outcomes": (6.6, 1.6, "prediction outcomes\n(rolling accuracy,\ndrift)"),
             "train": (1.9, 1.6, "cobflow learn: train on\nthe last window, embargoed"),
             "promote": (1.7, 5.6, "challenger vs champion\non held-out seconds\n(paired test, p)")}
    for x, y, text in boxes.values():
        loop.add_patch(FancyBboxPatch((x - 1.55, y - 0.9), 3.1, 1.8, boxstyle="round,pad=0.1", fc="#eef3fb",
                                      ec="#335"))
        loop.text(x, y, text, ha="center", va="center", fontsize=8.5)
    for a, b, label in (("data", "flow", ""), ("flow", "outcomes", "horizon passes"),
                        ("outcomes", "train", "every hour, or drift"), ("train", "promote", "checkpoint"),
                        ("promote", "flow", "promoted: swapped at\nthe next second")):
        (x1, y1, _), (x2, y2, _) = boxes[a], boxes[b]
        loop.add_patch(FancyArrowPatch((x1, y1), (x2, y2), arrowstyle="-|>", mutation_scale=14, color="#335",
                                       shrinkA=38, shrinkB=38, connectionstyle="arc3,rad=-0.15"))
        if label:
            dy = -0.9 if a == "outcomes" else 0.0  # below the arc that joins the two lower boxes
            loop.text((x1 + x2) / 2, (y1 + y2) / 2 + dy, label, ha="center", va="center", fontsize=7.5, color="#a33")
    loop.set_title("the loop: data -> outcomes -> training -> promotion -> swap", fontsize=10)
    periods = result["periods"]
    edges = [p["from_min"] for p in periods] + [periods[-1]["to_min"]]
    for key, label, style in (("accuracy", "served by the learner's champion", {"lw": 2}),
                              ("frozen_accuracy", "the first model, frozen", {"lw": 1.5, "ls": "--"})):
        ys = [p[key] for p in periods]
        acc.step(edges, ys + ys[-1:], where="post", label=label, **style)
    acc.axvline(result["flip_min"], color="grey", lw=1)
    acc.text(result["flip_min"], 0.97, " planted signal reverses", fontsize=8, va="top", color="grey")
    for v in result["verdicts"]:
        if v["promoted"]:
            acc.axvline(v["at_min"], color="tab:green", lw=0.8, ls=":")
    acc.axhline(0.5, color="k", lw=0.5)
    acc.set_ylim(0.0, 1.0)
    acc.set_xlabel("minutes of market (dotted: a promotion)")
    acc.set_ylabel("directional accuracy per period")
    acc.set_title(f"a regime change (lead-lag market): {result['symbols']} symbols x 5 venues, retrain every "
                  f"{result['every_s'] // 60} min on the last {result['window_s'] // 60}", fontsize=10)
    acc.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("oos", "regime", "day", "all", "picture"), default="all",
                   help="picture: draw docs/images/learning.png again from the results file")
    p.add_argument("--symbols", type=int, default=4, help="regime: symbols, five venues each (at most 8)")
    p.add_argument("--alpha", type=float, default=2.0, help="regime: the planted signal's strength")
    p.add_argument("--stride", type=int, default=1, help="regime: one training sample every N seconds")
    p.add_argument("--hours", type=float, default=1.5, help="regime: hours of market (the flip halfway)")
    p.add_argument("--trend", type=float, default=1.0, help="regime: the latent trends' scale")
    p.add_argument("--trend-every", type=float, default=30.0, help="regime: seconds a latent trend lasts, on average")
    p.add_argument("--lead", type=float, default=60.0,
                   help="regime: seconds the book leads the price (the lead-lag market: the trend alone "
                        "predicts little, the planted signal most)")
    p.add_argument("--every", type=int, default=600, help="regime: seconds of data between retrains")
    p.add_argument("--window", type=int, default=1800, help="regime: seconds each retrain reads")
    p.add_argument("--holdout", type=int, default=600, help="regime: held-out seconds of each verdict")
    p.add_argument("--min-labels", type=int, default=15, help="regime: independent labels a verdict needs")
    args = p.parse_args()
    out = ROOT / "bench" / "results" / "learner.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update({"machine": "2 cores, 24 GiB, no GPU", "date": time.strftime("%Y-%m-%d")})
    if args.part in ("oos", "all"):
        print("out of sample (trained on seed 51, scored on seed 52; SOL and XRP on five venues each):", flush=True)
        result["oos"] = oos()
    if args.part == "picture":
        picture(result["regime"], ROOT / "docs" / "images" / "learning.png")
        return 0
    if args.part in ("day", "all"):
        print("the default retrain (a day of rows) on a simulated day:", flush=True)
        result["day"] = day()
    if args.part in ("regime", "all"):
        print("a regime change, replayed through the learner:", flush=True)
        result["regime"] = regime(args)
        picture(result["regime"], ROOT / "docs" / "images" / "learning.png")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
