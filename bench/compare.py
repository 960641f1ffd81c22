"""This checkout against an earlier commit, side by side in one run: the COB flow and the
strategy flow (`cobflow compute` and `cobflow compute --strategy`) on the same capture and
the same checkpoints, whole processes alternating, old then new, `--repeat` times.

    python bench/compare.py                      # against 90100c4 (before issue 31's layout and APIs)
    python bench/compare.py --rev HEAD~3 --seconds 1800 --repeat 5

The earlier commit runs from a git worktree of it (with this checkout's native core, whose
source it shares); each run's flow time is the one `cobflow compute` prints (the flow alone,
without interpreter start-up). Prints the rates, the new/old ratio per pair and its median,
checks that both wrote the same number of rows per table, and writes bench/results/compare.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"
RESULTS = ROOT / "bench" / "results" / "compare.json"


def run(cmd: list[str], env: dict, cwd: Path) -> str:
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout


def package_tree(tree: Path) -> None:
    """Make a checkout whose pyproject maps top-level folders into `cobflow` (package-dir)
    importable from its folder alone: `cobflow/<name>` symlinks to those folders, so that its
    own modules are found on PYTHONPATH (the flows it starts get its folder as theirs)
    before this checkout's editable install maps `cobflow.*` here."""
    import tomllib

    conf = tomllib.loads((tree / "pyproject.toml").read_text()).get("tool", {}).get("setuptools", {})
    for name, folder in conf.get("package-dir", {}).items():
        if name.startswith("cobflow."):
            link = tree / "cobflow" / name.split(".", 1)[1]
            if not link.exists():
                link.symlink_to(tree / folder)


def compute(tree: Path, env: dict, capture: Path, out: Path, strategy: bool) -> tuple[float, dict[str, int]]:
    """(flow seconds, rows per table) of one `cobflow compute` in that tree."""
    shutil.rmtree(out, ignore_errors=True)
    # --output: the older trees compared against know no --out
    cmd = [sys.executable, "-m", "cobflow", "--config", str(CONFIG), "compute", "--input", str(capture),
           "--output", str(out), *(["--strategy"] if strategy else [])]
    text = run(cmd, {**env, "PYTHONPATH": str(tree)}, tree)
    m = re.search(r"computed in ([\d.]+) s", text)
    if m is None:
        sys.exit(f"no 'computed in' line from {tree}: {text[-500:]}")
    rows = {name: int(n.replace(",", "")) for name, n in re.findall(r"^\s+(\w+)\s+([\d,]+) rows$", text, re.M)}
    return float(m.group(1)), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", default="90100c4", help="the earlier commit (default: before issue 31)")
    ap.add_argument("--seconds", type=float, default=1200.0, help="simulated market (2 symbols x 5 venues)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from cobflow.capture import read_capture
    from cobflow.models.dataset import LabelSpec
    from tests.modeltools import seeded_checkpoints

    work = Path(tempfile.mkdtemp(prefix="cobflow-compare-"))
    old = work / "old"
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.rev], check=True,
                       capture_output=True)
        for so in (ROOT / "cobflow").glob("_native*.so"):
            shutil.copy(so, old / "cobflow" / so.name)
        package_tree(old)
        env = {**os.environ, "COBFLOW_MODELS__DIR": str(seeded_checkpoints(work / "models", LabelSpec())),
               "COBFLOW_SERVICES__HOME": str(work / "home")}
        capture = work / "sim.jsonl.gz"
        run([sys.executable, "-m", "cobflow", "--config", str(CONFIG), "simulate", "--duration", str(args.seconds),
             "--alpha", "1", "--seed", "7", "--out", str(capture)], env, ROOT)
        messages = sum(1 for _ in read_capture(capture))
        print(f"{messages:,} messages ({args.seconds:g} s of 2 symbols x 5 venues); {args.rev} vs this checkout")
        result: dict = {"rev": args.rev, "messages": messages, "seconds": args.seconds, "flows": {}}
        for flow, strategy in (("cob", False), ("strategy", True)):
            pairs = []
            for i in range(args.repeat):
                t_old, rows_old = compute(old, env, capture, work / "out-old", strategy)
                t_new, rows_new = compute(ROOT, env, capture, work / "out-new", strategy)
                if rows_old != rows_new:
                    print(f"  rows differ: {sorted(set(rows_old.items()) ^ set(rows_new.items()))}")
                pairs.append({"old_s": t_old, "new_s": t_new, "ratio": t_old / t_new, "same_rows": rows_old == rows_new})
                print(f"  {flow:8s} pair {i + 1}: old {messages / t_old:9,.0f} msg/s, new {messages / t_new:9,.0f} "
                      f"msg/s: new/old {t_old / t_new:.3f}")
            med = statistics.median(p["ratio"] for p in pairs)
            print(f"  {flow:8s} median new/old throughput: {med:.3f}")
            result["flows"][flow] = {"pairs": pairs, "median_ratio": med}
        result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        result["machine"] = f"{os.cpu_count()} cores"
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")
        print(f"written {RESULTS.relative_to(ROOT)}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
