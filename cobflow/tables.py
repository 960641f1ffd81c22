"""QuestDB tables: one definition serves the DDL, the ILP writer and the readers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    symbols: tuple[str, ...]  # SYMBOL columns (low-cardinality tags)
    columns: tuple[tuple[str, str], ...]  # (name, QuestDB type)
    dedup_keys: tuple[str, ...]

    def ddl(self, full_name: str) -> str:
        cols = ["ts TIMESTAMP"]
        cols += [f"{s} SYMBOL" for s in self.symbols]
        cols += [f"{c} {t}" for c, t in self.columns]
        return (
            f"CREATE TABLE IF NOT EXISTS {full_name} ({', '.join(cols)}) "
            f"TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS({', '.join(self.dedup_keys)})"
        )


@dataclass(slots=True)
class TableRow:
    table: str
    ts: int  # ns since the epoch: the designated timestamp
    symbols: dict[str, str]
    columns: dict[str, float | int | bool | str | np.ndarray | None]


@dataclass(slots=True)
class TableRows:
    """Rows of one table held as columns (an array or list each), not a dict per row: a
    second's 41 buckets, or its health rows of every venue, leave the consolidated book as
    one object, and the Parquet sink takes the arrays as they are. `ts` is one value for
    every row or a sequence of one per row; so is each tag (a str, or a list). A NaN or None
    in a DOUBLE column is a null, as QuestDB stores it."""

    table: str
    ts: int | Sequence[int] | np.ndarray
    symbols: Mapping[str, str | list[str]]
    columns: Mapping[str, Sequence | np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def expanded(self, shared_tags: bool = False) -> tuple[list[int], list[dict[str, str]], list[str], list[list]]:
        """(ts per row, tags per row, column names, each column's Python values, None for a
        null): what `rows` and the QuestDB sink build rows from. `shared_tags`: where every
        tag is one value, the rows share one tags dict (for readers that do not keep it)."""
        n, types = len(self), dict(TABLES[self.table].columns)
        names = list(self.columns)
        cols = [python_values(v, types[c]) for c, v in self.columns.items()]
        ts = [self.ts] * n if isinstance(self.ts, int) else [int(t) for t in self.ts]
        if shared_tags and all(isinstance(v, str) for v in self.symbols.values()):
            tags = [dict(self.symbols)] * n  # type: ignore[arg-type]
        else:
            per = {k: v if isinstance(v, list) else [v] * n for k, v in self.symbols.items()}
            tags = [dict(zip(per, tv)) for tv in zip(*per.values())] if per else [{} for _ in range(n)]
        return ts, tags, names, cols

    def rows(self) -> list[TableRow]:
        """The same rows one by one, with Python values (None for a null)."""
        ts, tags, names, cols = self.expanded()
        return [TableRow(self.table, t, tv, dict(zip(names, vals))) for t, tv, vals in zip(ts, tags, zip(*cols))]


AnyRow = TableRow | TableRows  # what the flows hand their sinks: a row, or a block of rows


def python_values(column: np.ndarray, qdb_type: str) -> list:
    if qdb_type == "DOUBLE[]":  # one array per row
        return [np.asarray(x, dtype=np.float64) for x in column]
    if qdb_type == "DOUBLE":
        return [None if x != x else x for x in np.asarray(column, dtype=np.float64).tolist()]
    if qdb_type == "VARCHAR":
        return [None if x is None else str(x) for x in column]
    if qdb_type == "BOOLEAN":
        return np.asarray(column, dtype=bool).tolist()
    return np.asarray(column, dtype=np.int64).tolist()


def as_rows(items: Iterable[AnyRow]) -> list[TableRow]:
    """Table rows one by one, blocks of rows expanded (the QuestDB sink, tests)."""
    out: list[TableRow] = []
    for x in items:
        if type(x) is TableRows:
            out.extend(x.rows())
        else:
            out.append(x)  # type: ignore[arg-type]
    return out


TOP_OF_BOOK = Table(
    "top_of_book",
    symbols=("venue", "market"),
    columns=(
        ("best_bid", "DOUBLE"),
        ("best_bid_qty", "DOUBLE"),
        ("best_ask", "DOUBLE"),
        ("best_ask_qty", "DOUBLE"),
        ("mid", "DOUBLE"),
    ),
    dedup_keys=("ts", "venue", "market"),
)

BOOK_HEALTH = Table(
    "book_health",
    symbols=("venue", "market"),
    columns=(
        ("synced", "BOOLEAN"),
        ("snapshots", "LONG"),
        ("updates", "LONG"),
        ("gaps", "LONG"),
        ("checksum_checks", "LONG"),
        ("checksum_failures", "LONG"),
        ("resyncs", "LONG"),
        ("malformed", "LONG"),
    ),
    dedup_keys=("ts", "venue", "market"),
)

COB_SUMMARY = Table(
    "cob_summary",
    symbols=("symbol",),
    columns=(
        ("venues", "INT"), ("best_bid", "DOUBLE"), ("best_ask", "DOUBLE"), ("mid", "DOUBLE"),
        ("microprice", "DOUBLE"), ("spread_bps", "DOUBLE"), ("crossed", "BOOLEAN"),
        ("bid_qty_total", "DOUBLE"), ("ask_qty_total", "DOUBLE"), ("liquidity_imbalance", "DOUBLE"),
        ("li_ma_1", "DOUBLE"), ("li_ma_5", "DOUBLE"), ("li_ma_15", "DOUBLE"), ("li_ma_60", "DOUBLE"),
        ("rate", "DOUBLE"), ("rates", "VARCHAR"),
    ),
    dedup_keys=("ts", "symbol"),
)
"""`rate`: the rate of the symbol's one quote conversion that second (null without one);
`rates`: each converted currency's rate and its source (`USDT=0.99987 coinbase:USDT-USD`)."""

COB_BUCKETS = Table(
    "cob_buckets",
    symbols=("symbol",),
    columns=(
        ("offset", "INT"), ("price", "DOUBLE"), ("bid_qty", "DOUBLE"), ("ask_qty", "DOUBLE"),
        ("bid_notional", "DOUBLE"), ("ask_notional", "DOUBLE"), ("bid_vwap", "DOUBLE"), ("ask_vwap", "DOUBLE"),
        ("imbalance", "DOUBLE"), ("venues", "INT"),
    ),
    dedup_keys=("ts", "symbol", "offset"),
)

IMBALANCE_MA = Table(
    "imbalance_ma",
    symbols=("symbol",),
    columns=(("offset", "INT"), ("ma_1", "DOUBLE"), ("ma_5", "DOUBLE"), ("ma_15", "DOUBLE"), ("ma_60", "DOUBLE")),
    dedup_keys=("ts", "symbol", "offset"),
)

OHLCV = Table(
    "ohlcv",
    symbols=("symbol", "venue", "timeframe"),
    columns=(
        ("open", "DOUBLE"), ("high", "DOUBLE"), ("low", "DOUBLE"), ("close", "DOUBLE"), ("volume", "DOUBLE"),
        ("buy_volume", "DOUBLE"), ("sell_volume", "DOUBLE"), ("trades", "LONG"), ("vwap", "DOUBLE"),
    ),
    dedup_keys=("ts", "symbol", "venue", "timeframe"),
)

ORDER_FLOW = Table(
    "order_flow",
    symbols=("symbol", "venue"),
    columns=(("aggressive_buy_ratio", "DOUBLE"), ("cvd", "DOUBLE")),
    dedup_keys=("ts", "symbol", "venue"),
)

DEAD_LETTERS = Table(
    "dead_letters",
    symbols=("venue", "market", "stage"),
    columns=(("reason", "VARCHAR"),),
    dedup_keys=("ts", "venue", "market", "stage"),
)
"""One row per dead letter (ts = the message's ts_recv); the message itself is in the dlq topic."""

CONSUMER_LAG = Table(
    "consumer_lag",
    symbols=("topic",),
    columns=(("kafka_partition", "INT"), ("consumed_offset", "LONG"), ("end_offset", "LONG"), ("lag", "LONG")),
    dedup_keys=("ts", "topic", "kafka_partition"),
)
"""How far a dataflow is behind its Kafka partitions (ts = wall clock of the measurement)."""

DATA_QUALITY = Table(
    "data_quality",
    symbols=("symbol",),
    columns=(("completeness", "DOUBLE"), ("freshness", "DOUBLE"), ("quality", "DOUBLE"),
             ("synced", "INT"), ("fresh", "INT"), ("configured", "INT")),
    dedup_keys=("ts", "symbol"),
)
"""FEATURES.md "Data quality": one row per symbol and second the COB flow closes."""

INDICATORS = Table(
    "indicators",
    symbols=("symbol", "timeframe"),
    columns=tuple((c, "DOUBLE") for c in (
        "sma_20", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist",
        "bb_upper", "bb_middle", "bb_lower", "atr_14", "obv")),
    dedup_keys=("ts", "symbol", "timeframe"),
)
"""FEATURES.md "Indicators": one row per closed ALL bar (ts = the bar's start)."""

PIVOTS = Table(
    "pivots",
    symbols=("symbol", "timeframe", "kind"),
    columns=(("level", "INT"), ("price", "DOUBLE"), ("confirmed_ts", "TIMESTAMP")),
    dedup_keys=("ts", "symbol", "timeframe", "level", "kind"),
)
"""FEATURES.md "Pivots": one row per pivot, written at its confirmation (ts = the pivot bar's start)."""

FEATURES = Table(
    "features",
    symbols=("symbol", "layout"),
    columns=(("quality", "DOUBLE"), ("completeness", "DOUBLE"), ("freshness", "DOUBLE"),
             ("cnn", "DOUBLE[]"), ("rl", "DOUBLE[]")),
    dedup_keys=("ts", "symbol"),
)
"""FEATURES.md "Feature vectors": per symbol and second with a cob_summary row."""

SIGNALS = Table(
    "signals",
    symbols=("symbol", "kind"),
    columns=(("direction", "INT"), ("strength", "DOUBLE"), ("value", "DOUBLE"), ("threshold", "DOUBLE"),
             ("detail", "VARCHAR")),
    dedup_keys=("ts", "symbol", "kind"),
)
"""Rule signals (cobflow.metrics.signals), at the second they fire: arbitrage from the COB
flow's venue books, the imbalance cross and the liquidity anomaly from the strategy step."""

MODEL_OUTPUTS = Table(
    "model_outputs",
    symbols=("symbol", "model_type", "model_name"),
    columns=(("confidence", "DOUBLE"), ("action", "VARCHAR"), ("action_confidence", "DOUBLE"),
             ("direction", "VARCHAR"), ("direction_confidence", "DOUBLE"), ("probabilities", "DOUBLE[]"),
             ("pivots", "DOUBLE[]")),
    dedup_keys=("ts", "symbol", "model_type"),
)
"""One row per model and symbol and second it ran on (models.output.ModelOutput)."""

DECISIONS = Table(
    "decisions",
    symbols=("symbol", "source", "run"),
    columns=(("action", "VARCHAR"), ("confidence", "DOUBLE"), ("score", "DOUBLE"), ("reason", "VARCHAR"),
             ("models", "VARCHAR")),
    dedup_keys=("ts", "symbol", "run"),
)
"""EXECUTION.md "Decisions": one per symbol and second with a features row; `models`: the
checkpoints the strategy heard that second (kind:name, comma-separated)."""

PREDICTION_OUTCOMES = Table(
    "prediction_outcomes",
    symbols=("symbol", "source"),
    columns=(("direction", "INT"), ("confidence", "DOUBLE"), ("horizon_s", "INT"), ("realized_return_bps", "DOUBLE"),
             ("hit", "BOOLEAN"), ("rolling_accuracy", "DOUBLE")),
    dedup_keys=("ts", "symbol", "source"),
)
"""A prediction (ts = the second it was made) scored once its horizon has passed."""

COB_TABLES = (COB_SUMMARY, COB_BUCKETS, IMBALANCE_MA, OHLCV, ORDER_FLOW, BOOK_HEALTH, DATA_QUALITY, SIGNALS)
FEATURE_TABLES = (INDICATORS, PIVOTS, FEATURES)  # from the COB tables' rows (cobflow.operators.features)
ORDERS = Table(
    "orders",
    symbols=("symbol", "run"),
    columns=(("order_id", "VARCHAR"), ("decision_ts", "TIMESTAMP"), ("reason", "VARCHAR"), ("route", "VARCHAR"),
             ("side", "VARCHAR"), ("qty", "DOUBLE"), ("filled", "DOUBLE"), ("avg_price", "DOUBLE"),
             ("fee", "DOUBLE"), ("status", "VARCHAR"), ("type", "VARCHAR"), ("price", "DOUBLE"),
             ("stop_price", "DOUBLE"), ("venue", "VARCHAR"), ("client_id", "VARCHAR")),
    dedup_keys=("ts", "symbol", "order_id", "run"),
)
"""EXECUTION.md: a market order (`type` market, the next-second model) has one row, ts = S+1
(created and filled), status filled, partial (the books could not fill it all) or unfilled.
A limit or stop order has one row per second in which its state or filled quantity changed:
`new` at its decision, then `open`, `partially_filled`, `filled`, or `cancelled`, `rejected`,
`expired`, with the `reason` (would_cross, a risk rule, triggered, ...) and the `venue` it
rests on; `price` is in the symbol's quote."""

FILLS = Table(
    "fills",
    symbols=("symbol", "venue", "run"),
    columns=(("side", "VARCHAR"), ("qty", "DOUBLE"), ("price", "DOUBLE"), ("fee", "DOUBLE"), ("rate", "DOUBLE"),
             ("order_id", "VARCHAR"), ("decision_ts", "TIMESTAMP"), ("slice", "INT"), ("liquidity", "VARCHAR"),
             ("wait_s", "DOUBLE")),
    dedup_keys=("ts", "symbol", "order_id", "slice", "run"),
)
"""One row per venue slice of an order's walk (a level of one venue), in walk order. `price`
and `fee` are in the symbol's quote, as the account keeps them; a converted market's slice
has the `rate` it was converted at (its price on the venue: price / rate), else null.
`liquidity` is taker (a walk, a crossing limit order's part) or maker (a resting limit
order's fill, one row per order and second, with `wait_s`: seconds since it reached the
venue)."""

POSITIONS = Table(
    "positions",
    symbols=("symbol", "run"),
    columns=(("position", "DOUBLE"), ("avg_price", "DOUBLE"), ("mid", "DOUBLE"), ("unrealized", "DOUBLE"),
             ("realized", "DOUBLE"), ("fees", "DOUBLE")),
    dedup_keys=("ts", "symbol", "run"),
)
"""Per symbol and second with a position or a fill (realized and fees cumulative)."""

EQUITY = Table(
    "equity",
    symbols=("run",),
    columns=(("equity", "DOUBLE"), ("cash", "DOUBLE"), ("exposure", "DOUBLE"), ("peak", "DOUBLE"),
             ("drawdown", "DOUBLE"), ("halted", "BOOLEAN")),
    dedup_keys=("ts", "run"),
)
"""One row per second: cash + positions at their mids (EXECUTION.md "Accounting")."""

RISK_EVENTS = Table(
    "risk_events",
    symbols=("symbol", "rule", "run"),
    columns=(("action", "VARCHAR"), ("value", "DOUBLE"), ("threshold", "DOUBLE"), ("qty_before", "DOUBLE"),
             ("qty_after", "DOUBLE"), ("detail", "VARCHAR")),
    dedup_keys=("ts", "symbol", "rule", "run"),
)
"""Every refusal, clip, stop, close-all, halt and resume; symbol `account` for the account's."""

LIVE_ORDERS = Table(
    "live_orders",
    symbols=("symbol", "venue", "run"),
    columns=(("client_id", "VARCHAR"), ("venue_order_id", "VARCHAR"), ("status", "VARCHAR"), ("side", "VARCHAR"),
             ("type", "VARCHAR"), ("qty", "DOUBLE"), ("price", "DOUBLE"), ("filled", "DOUBLE"),
             ("avg_price", "DOUBLE"), ("fee", "DOUBLE"), ("reason", "VARCHAR"), ("decision_ts", "TIMESTAMP"),
             ("sent_ms", "DOUBLE"), ("ack_ms", "DOUBLE")),
    dedup_keys=("ts", "client_id", "run"),
)
"""The gateway's orders at the venues (`cobflow trade`): one row per report, when the order's
state, fill or fee changed; `ts` when the gateway learned it. `status` is EXECUTION.md's plus
`unknown` (sent, no answer yet) and `shadow` (validated, not placed); `fee` in the quote;
`sent_ms` and `ack_ms` from the decision (wall clock) to the send and to the venue's answer."""

RECONCILIATION = Table(
    "reconciliation",
    symbols=("venue", "what", "run"),
    columns=(("item", "VARCHAR"), ("ours", "VARCHAR"), ("venue_says", "VARCHAR"), ("action", "VARCHAR")),
    dedup_keys=("ts", "venue", "item", "run"),
)
"""Each difference the gateway found between its ledger and a venue (`what`: order or balance;
`item`: the client id or the asset); the venue wins, `action` says what was done."""

VENUE_BALANCES = Table(
    "venue_balances",
    symbols=("venue", "asset", "run"),
    columns=(("total", "DOUBLE"),),
    dedup_keys=("ts", "venue", "asset", "run"),
)
"""Each venue's balances (free + locked) as the gateway read them at each reconciliation."""

MODEL_EVENTS = Table(
    "model_events",
    symbols=("kind", "event", "source"),
    columns=(("checkpoint", "VARCHAR"), ("running", "VARCHAR"), ("reason", "VARCHAR"),
             ("challenger_score", "DOUBLE"), ("champion_score", "DOUBLE"), ("labels", "INT"), ("p_value", "DOUBLE")),
    dedup_keys=("ts", "kind", "event", "source", "checkpoint"),
)
"""What happened to a model kind's running checkpoint: the learner's retrains, promotions and
refusals (both scores, the independent labels they rest on, the test's p-value) and drift
triggers; the flow's swaps and refused swaps (records.ModelEvent)."""

# cobflow.operators.strategy (it adds signals too)
STRATEGY_TABLES = (MODEL_OUTPUTS, DECISIONS, PREDICTION_OUTCOMES, MODEL_EVENTS)
RUNS = Table(
    "runs",
    symbols=("run",),
    columns=(("strategy", "VARCHAR"), ("code_version", "VARCHAR"), ("symbols_file", "VARCHAR"),
             ("symbols_sha256", "VARCHAR"), ("symbols_yaml", "VARCHAR")),
    dedup_keys=("ts", "run"),
)
"""One row each time a run writing QuestDB starts (a Kafka backtest, the strategy flow): the
symbols file it ran with, whole, so that its rows can be read back with the same file."""

EXECUTION_TABLES = (ORDERS, FILLS, POSITIONS, EQUITY, RISK_EVENTS)  # cobflow.operators.execution
#: the tables an account's run (`run` tag: `paper` live, a backtest's id) writes apart from others
RUN_TABLES = (DECISIONS, *EXECUTION_TABLES)
FLOW_TABLES = (*COB_TABLES, *FEATURE_TABLES, *STRATEGY_TABLES, *EXECUTION_TABLES)  # the strategy flow's
PIPELINE_TABLES = (DEAD_LETTERS, CONSUMER_LAG)  # written by the flows reading Kafka
GATEWAY_TABLES = (LIVE_ORDERS, RECONCILIATION, VENUE_BALANCES, RISK_EVENTS)  # `cobflow trade`'s
TABLES = {t.name: t for t in (TOP_OF_BOOK, *FLOW_TABLES, *PIPELINE_TABLES, RUNS, *GATEWAY_TABLES)}
