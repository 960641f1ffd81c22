"""The flow section (`COBFLOW_FLOW__*`): how the dataflows read, close seconds and write."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cobflow.tables import TABLES


class FlowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    tail: bool = Field(False, description="keep waiting for new messages (live) or stop at the end")
    strict: bool = Field(False, description="file mode: stop at the first capture line that is no raw message "
                         "(default: dead-letter it, stage read, and go on)")
    batch_size: int = Field(1000, ge=1, description="Kafka messages per source batch")
    idle_timeout_s: float = Field(
        2.0, gt=0, description="live mode: close a market's open second after this much silence"
    )
    lateness_s: float | None = Field(
        None, gt=0, description="live mode: a venue this far (ts_recv) behind its symbol's newest message no "
        "longer holds that symbol's second open (default: off, a second waits for every venue heard from within "
        "the idle timeout). Decisions come sooner; a message of that venue still on its way with an earlier "
        "ts_recv counts in the next second (bench/cob.py measures both)")
    max_skew_s: float = Field(
        5.0, gt=0, description="Kafka input: read no topic more than this far (ts_recv) ahead of the slowest"
    )
    cob_tables: bool = Field(
        True, description="the strategy flow writes the COB and feature tables too (false: only its own, "
        "beside a COB flow that writes them, as docker compose runs them)")
    strategy_tables: bool = Field(
        True, description="the strategy flow writes signals, model outputs and outcomes (false: only the "
        "decisions and the account's tables, tagged with the run: a backtest beside the live flow)")
    latency_log: Path | None = Field(
        None, description="a file the COB flow appends one line to per second of each symbol: symbol, the "
        "second (ns) and the wall clock (ns) when its rows left the consolidated book (bench/cob.py's latency)")
    recovery: bool = Field(
        True, description="the flow keeps a recovery store: at each epoch's end the QuestDB sink returns only once "
        "the epoch's rows are in QuestDB, so that a snapshot never gets ahead of them, and every stateful step "
        "copies its state. `cobflow run` (and every flow started through cobflow.app.runflow) sets it false for a "
        "flow without a store, where no snapshot is kept: the flow then goes on computing while its rows are "
        "sent (this wait was 10% of the Kafka -> QuestDB run's wall time, the copies 2%)")
    epoch_s: float = Field(
        1.0, gt=0, description="Bytewax epoch (wall seconds) of a flow without a recovery store: at each "
        "epoch's end the inputs wait until the flow has drained it, which bounds the messages in flight "
        "between workers and processes (Bytewax's own default, 10 s, let a fast reader queue ~10 s of "
        "input for a slower process)",
    )
    workers: int = Field(
        1, ge=1, description="the flow's workers in all (processes x workers per process): the strategy step "
        "runs one shard per process, beside the books of its symbols. Every flow started through "
        "cobflow.app.runflow (`cobflow run`, `compute`, `backtest`) sets it from its -w and -a; set it on a "
        "plain `python -m bytewax.run` cluster. It changes speed only, never a row")
    processes: int = Field(
        1, ge=1, description="the flow's processes (set as `workers` is): in a cluster of several, each process "
        "reads a capture file for its own symbols, so that no raw message crosses between processes")
    tables: tuple[str, ...] | None = Field(
        None, description='the tables the flow writes (JSON list, e.g. ["cob_summary","equity"]; default: every '
        "table of the flow). The rows of the others are never made, and the features step computes only what "
        "the kept tables and the strategies read (`cobflow backtest --tables`)")

    @field_validator("tables")
    @classmethod
    def _tables(cls, tables: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in tables or ():
            if name not in TABLES:
                raise ValueError(f"unknown table {name!r}; known: {', '.join(sorted(TABLES))}")
        return tables

    def keeps(self, table: str) -> bool:
        """The flow writes this table."""
        return self.tables is None or table in self.tables
