"""How long the `cobflow` command takes to answer `--help` and `--version` (a whole process,
as a user types it), and which heavy libraries its start-up imports (none should).

    python bench/cli.py [--repeat 15]

Prints the median and the worst of each, writes bench/results/cli.json. Target (issue 38):
`cobflow --help` under 0.3 s on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cli.json"
HEAVY = ("pydantic", "numpy", "pyarrow", "matplotlib", "torch", "grafana_client", "bytewax", "confluent_kafka")


def timed(args: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cobflow", *args], capture_output=True, check=True)
        out.append(time.perf_counter() - start)
    return out


def heavy_imports() -> list[str]:
    code = ("import sys\nfrom cobflow.app.cli import build_parser\nbuild_parser()\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    a = p.parse_args()
    timed(["--version"], 1)  # warm the file cache
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    python = time.perf_counter() - start
    results = {"python_start_s": round(python, 4)}
    for name, args in (("help", ["--help"]), ("version", ["--version"]), ("backtest_help", ["backtest", "--help"])):
        t = timed(args, a.repeat)
        results[name] = {"median_s": round(statistics.median(t), 4), "max_s": round(max(t), 4), "runs": len(t)}
        print(f"cobflow {' '.join(args):16s} median {statistics.median(t):.3f} s, worst {max(t):.3f} s "
              f"({len(t)} runs)")
    results["heavy_imports_for_the_parser"] = heavy_imports()
    print(f"python alone {python:.3f} s; heavy libraries the parser imports: "
          f"{', '.join(results['heavy_imports_for_the_parser']) or 'none'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
