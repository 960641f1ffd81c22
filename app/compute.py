"""`cobflow compute`: the COB dataflow (with `strategy`, the strategy flow) on a capture
file, into Parquet, with no servers."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cobflow.app.runflow import file_flow, run_flow
from cobflow.capture import CaptureError, capture_format
from cobflow.config import SYMBOLS_FILE, Settings, SymbolsConfig, load_symbols
from cobflow.tables import COB_TABLES, FEATURE_TABLES, FLOW_TABLES


class ComputeError(RuntimeError):
    pass


@dataclass
class ComputeResult:
    seconds: float
    rows: dict[str, int]  # per table
    dead_letters: int
    unreadable: list[str] = field(default_factory=list)  # the reasons of the lines that are no raw messages


def compute(settings: Settings, input: Path, output: Path, workers: int = 1, processes: int = 1,
            progress: bool | str = True, strategy: bool = False, env: dict[str, str] | None = None) -> ComputeResult:
    """Run the file flow over `input` into `output` (its tables replaced, never appended to).

    The flow writes into a hidden folder beside `output`, whose tables replace `output`'s
    only once it has succeeded: a failed run leaves nothing that looks like a result (and a
    previous result as it was)."""
    load_symbols(settings.symbols_file)  # a configuration error is reported here, in one line
    if not input.exists():
        raise CaptureError(f"{input}: no such capture file")
    capture_format(input)
    output.mkdir(parents=True, exist_ok=True)
    staging = output.resolve().parent / f".{output.resolve().name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    start = time.perf_counter()
    try:
        locator = file_flow(input.resolve(), staging, settings.symbols_file, progress, strategy=strategy)
        # the tables the flow writes are these settings' (a name in the environment the flow
        # inherits would otherwise win): every table of the flow when none are chosen
        names = settings.flow.tables if settings.flow.tables is not None else [t.name for t in FLOW_TABLES]
        env = {**(env or {}), "COBFLOW_FLOW__TABLES": orjson.dumps(list(names)).decode()}
        rc = run_flow(locator, workers, processes=processes, epoch_s=settings.flow.epoch_s, env=env)
        if rc != 0:
            raise ComputeError(f"the dataflow failed (exit {rc}); {output} is left as it was")
        _move_into(staging, output)
        shutil.copyfile(settings.symbols_file, output / SYMBOLS_FILE)  # `report`, `features` read it back
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    tables = [t for t in (FLOW_TABLES if strategy else (*COB_TABLES, *FEATURE_TABLES)) if settings.flow.keeps(t.name)]
    rows = {t.name: sum(pq.ParquetFile(f).metadata.num_rows for f in (output / t.name).glob("*.parquet"))
            for t in tables}
    dead, unreadable = 0, []
    for f in output.glob("dead_letters*.jsonl"):
        for line in open(f, "rb"):
            dead += 1
            if b'"stage":"read"' in line[:40]:
                unreadable.append(orjson.loads(line)["reason"])
    if not any(rows.values()):  # nothing to show for it: say why, in one line
        where = f"the dead letters are in {output}/dead_letters*.jsonl"
        if unreadable:
            raise ComputeError(f"nothing computed from {input}: {len(unreadable):,} line(s) are no raw message (first: "
                               f"{sorted(unreadable)[0]}) and no other line made a second; {where}")
        raise ComputeError(f"nothing computed from {input}: no message of a configured venue market made a second "
                           f"(symbols file {settings.symbols_file}){'; ' + where if dead else ''}")
    for warning in silent_rates(load_symbols(settings.symbols_file), output):
        print(f"cobflow: warning: {warning}", file=sys.stderr)
    return ComputeResult(time.perf_counter() - start, rows, dead, sorted(unreadable))


def silent_rates(symbols: SymbolsConfig, output: Path) -> list[str]:
    """One line per symbol whose quote conversion had no rate in any second of the output
    (its rate market is not in the capture): its converted markets were left out."""
    from cobflow.config import quote_of
    from cobflow.dataflows.sinks.parquet import read_table

    wanted = {sym: spec for sym, spec in symbols.symbols.items()
              if any(r.market is not None for r in spec.quote.values())}
    if not wanted or not (output / "cob_summary").is_dir():
        return []
    t = read_table(output, "cob_summary").select(["symbol", "rates"])
    present = set(pc.unique(t["symbol"]).to_pylist())
    heard = set(pc.unique(t.filter(pc.is_valid(t["rates"]))["symbol"]).to_pylist())
    out = []
    for sym, spec in wanted.items():
        if sym in heard or sym not in present:
            continue
        markets = ", ".join(r.market for r in spec.quote.values() if r.market is not None)
        left = ", ".join(f"{v} {m}" for v, m in spec.venues.items() if spec.converts(m))
        out.append(f"{sym}: no rate from {markets} in this input, so {left} (quoted in "
                   f"{', '.join(sorted({quote_of(m) or '' for m in spec.venues.values() if spec.converts(m)}))}) "
                   f"were left out of every second; record the rate market too, or give a fixed rate "
                   f"(quote: {{USDT: 1.0}})")
    return out


def _move_into(staging: Path, output: Path) -> None:
    """The finished run's tables and dead letters replace those of `output` (its other files,
    a backtest's report or pictures, stay)."""
    for t in FLOW_TABLES:
        shutil.rmtree(output / t.name, ignore_errors=True)
    for old in output.glob("dead_letters*.jsonl"):
        old.unlink()
    for item in staging.iterdir():
        item.rename(output / item.name)
