"""Fuzzing the code that reads what the outside world sends: every venue parser (Python, and
the native core's books where it reads the venue), the capture line reader (Python and
native) and the symbols.yaml loader, on mutations of real frames (the simulator's, every
venue in its own wire format, and the recorded captures). A crash is any exception other
than the one each reader is meant to raise (MalformedFrame, RawMessageError, CaptureError,
ConfigError); a hang is an input that takes longer than a second.

    python bench/fuzz.py                 # 1,000,000 inputs (about ten minutes on 2 cores)
    python bench/fuzz.py --inputs 50000  # a quick look

Prints the counts per target and writes bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from cobflow.capture import CaptureError, read_capture
from cobflow.config import PROJECT_ROOT, ConfigError, load_symbols
from cobflow.connectors import get_venue
from cobflow.events import MalformedFrame
from cobflow.raw import RawMessage, RawMessageError

ROOT = PROJECT_ROOT
HANG_S = 1.0
class Target:
    def __init__(self, name: str, run: Callable[[object], object], expected: tuple[type[BaseException], ...]) -> None:
        self.name, self.run, self.expected = name, run, expected
        self.inputs = self.refused = self.crashes = self.hangs = 0
        self.slowest = 0.0
        self.first_crash: str | None = None

    def __call__(self, x: object) -> None:
        self.inputs += 1
        t = time.perf_counter()
        try:
            self.run(x)
        except self.expected:
            self.refused += 1
        except Exception:  # noqa: BLE001 - what a crash is
            self.crashes += 1
            if self.first_crash is None:
                self.first_crash = f"{traceback.format_exc(limit=3)}\ninput: {str(x)[:300]!r}"
        took = time.perf_counter() - t
        self.slowest = max(self.slowest, took)
        self.hangs += took > HANG_S

    def summary(self) -> dict:
        return {"inputs": self.inputs, "refused": self.refused, "crashes": self.crashes, "hangs": self.hangs,
                "slowest_s": round(self.slowest, 4), "first_crash": self.first_crash}


def seeds() -> list[RawMessage]:
    from tests.simdata import VENUES, sim

    frames = list(sim(30.0, seed=5, venues=VENUES))
    from cobflow.connectors.cryptofeed import import_cryptofeed

    captures = ROOT / "tests" / "fixtures" / "captures"
    for f in sorted(captures.glob("*.*.*")):
        try:
            frames += import_cryptofeed([f])[:2000]
        except Exception:  # noqa: BLE001 - a recording of a format not imported is skipped
            continue
    return frames


def main() -> None:
    sys.path.insert(0, str(ROOT))  # the test helpers (tests/): the damage and the simulated frames
    from tests.fuzzing import damaged, mutate

    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    frames = seeds()
    venues = sorted({m.exchange for m in frames})
    print(f"{len(frames):,} seed frames of {len(venues)} venues: {', '.join(venues)}")

    def python_parse(m: RawMessage) -> object:
        return get_venue(m.exchange).parse(m)

    from cobflow.operators.books import native_venue_book

    books: dict[tuple[str, str], object] = {}
    native_skipped = [0]  # frames of markets without a native book (KuCoin, unmapped names)

    def native_apply(m: RawMessage) -> object:
        key = (m.exchange, m.symbol or "")
        if key not in books:  # one book per market (the envelope names it), fed every damaged frame of it
            try:
                books[key] = native_venue_book(m.exchange, m.symbol) if m.symbol else None
            except ValueError:  # a recorded market name the venue module does not map back
                books[key] = None
        book = books[key]
        if book is None:
            native_skipped[0] += 1
            return None
        return book.apply([m])  # type: ignore[attr-defined]

    def envelope(line: str) -> object:
        import orjson

        return RawMessage.from_dict(orjson.loads(line))

    tmp = Path(tempfile.mkdtemp())

    def lines(chunk: list[str]) -> object:
        p = tmp / "c.jsonl"
        p.write_bytes("\n".join(chunk).encode("utf-8", "surrogatepass"))
        return list(read_capture(p, on_bad=lambda err, line, ts: None))

    base_yaml = (ROOT / "tests" / "data" / "cob_e2e.yaml").read_text()

    def config(text: str) -> object:
        p = tmp / "symbols.yaml"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        return load_symbols(p)

    import orjson

    targets = {
        "python venue parsers": Target("python venue parsers", python_parse, (MalformedFrame,)),
        "native venue books": Target("native venue books", native_apply, ()),
        "capture envelope": Target("capture envelope", envelope, (RawMessageError, orjson.JSONDecodeError)),
        "capture reader (files)": Target("capture reader (files)", lines, (CaptureError,)),
        "symbols.yaml loader": Target("symbols.yaml loader", config, (ConfigError,)),
    }
    share = {"python venue parsers": 0.45, "native venue books": 0.35, "capture envelope": 0.15,
             "capture reader (files)": 0.03, "symbols.yaml loader": 0.02}
    start = time.perf_counter()
    done = 0
    next_report = 50_000
    while done < args.inputs:
        r = rng.random()
        m = rng.choice(frames)
        if r < share["python venue parsers"]:
            targets["python venue parsers"](damaged(m, rng))
            done += 1
        elif r < share["python venue parsers"] + share["native venue books"]:
            targets["native venue books"](damaged(m, rng))
            done += 1
        elif r < 0.95:
            targets["capture envelope"](mutate(orjson.dumps(m.to_dict()).decode(), rng))
            done += 1
        elif r < 0.98:
            chunk = [mutate(orjson.dumps(x.to_dict()).decode(), rng) for x in rng.sample(frames, 20)]
            targets["capture reader (files)"](chunk)
            done += len(chunk)
        else:
            targets["symbols.yaml loader"](mutate(base_yaml, rng))
            done += 1
        if done >= next_report:
            rate = done / (time.perf_counter() - start)
            print(f"  {done:,} inputs, {sum(t.crashes for t in targets.values())} crashes, {rate:,.0f}/s",
                  flush=True)
            next_report += 50_000
    wall = time.perf_counter() - start
    print(f"{done:,} inputs in {wall:.0f} s ({done / wall:,.0f}/s); {native_skipped[0]:,} of the native "
          "target's frames had no native book (KuCoin stays in Python)")
    print(f"{'target':24s} {'inputs':>10s} {'refused':>10s} {'crashes':>8s} {'hangs':>6s} {'slowest':>9s}")
    for t in targets.values():
        print(f"{t.name:24s} {t.inputs:>10,} {t.refused:>10,} {t.crashes:>8,} {t.hangs:>6,} {t.slowest:>8.4f}s")
        if t.first_crash:
            print(f"  first crash:\n{t.first_crash}")
    out = ROOT / "bench" / "results" / "fuzz.json"
    out.write_text(json.dumps({"inputs": done, "seed": args.seed, "wall_s": wall, "hang_s": HANG_S,
                               "targets": {k: t.summary() for k, t in targets.items()}}, indent=2) + "\n")
    print(f"results written to {out}")
    sys.exit(1 if any(t.crashes or t.hangs for t in targets.values()) else 0)


if __name__ == "__main__":
    main()
