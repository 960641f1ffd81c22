"""Settings (pydantic-settings, `COBFLOW_...` environment overrides) and `symbols.yaml`.

Environment variables use `__` between levels: `COBFLOW_KAFKA__PORT=19092`,
`COBFLOW_QUESTDB__TABLE_PREFIX=test_`, `COBFLOW_SYMBOLS_FILE=my.yaml`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cobflow.names import PROJECT_ROOT, STRATEGIES
from cobflow.venues import VENUES


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what was expected."""


class PluginError(ConfigError):
    """A plug-in (`module:Class`) that cannot be used: the message is one line naming it."""


#: a plug-in's name: `module.path:Class`
_CLASS_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _default_home() -> Path:
    # A source checkout keeps jars, server data and logs beside the code (git-ignored);
    # an installed package keeps them in the user's cache.
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / ".cobflow"
    return Path.home() / ".cache" / "cobflow"


class KafkaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    bootstrap_servers: str | None = Field(
        None, description="an external cluster; default is the local server host:port"
    )
    topic_prefix: str = Field("", description="prepended to every topic name (isolates tests)")
    partitions: int = Field(3, ge=1)
    dlq_topic: str = "dlq"
    retention_bytes: int = Field(
        1 << 30, ge=-1,
        description="per partition of the topics cobflow creates (-1: no limit). They keep records "
                    "by size, never by age: a record's timestamp is its ts_recv, and Kafka would "
                    "delete a replayed capture older than its time retention as soon as it arrived",
    )

    @property
    def servers(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.port}"

    def raw_topic(self, venue: str) -> str:
        return f"{self.topic_prefix}raw.{venue}"

    def dlq(self) -> str:
        return f"{self.topic_prefix}{self.dlq_topic}"

    def venue_of_topic(self, topic: str) -> str:
        prefix = f"{self.topic_prefix}raw."
        if not topic.startswith(prefix):
            raise ValueError(f"topic {topic!r} is not a raw topic (expected {prefix}<venue>)")
        return topic[len(prefix):]


class QuestDBSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    host: str = "127.0.0.1"
    http_port: int = Field(9000, ge=1, le=65535, description="REST /exec and ILP over HTTP")
    pg_port: int = Field(8812, ge=1, le=65535, description="PostgreSQL wire (Grafana, psql)")
    ilp_tcp_port: int = Field(9009, ge=1, le=65535)
    min_http_port: int = Field(9003, ge=1, le=65535, description="health endpoint")
    table_prefix: str = Field("", description="prepended to every table name (isolates tests)")

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ilp_conf(self) -> str:
        return f"http::addr={self.host}:{self.http_port};"

    def table(self, name: str) -> str:
        return f"{self.table_prefix}{name}"


class ServicesSettings(BaseModel):
    """The local servers `cobflow services` fetches from Maven Central and runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    home: Path = Field(default_factory=_default_home, description="jars, data, PIDs, logs")
    kafka_version: str = "4.2.0"
    questdb_version: str = "9.3.4"
    kafka_heap: str = "1g"
    questdb_heap: str = "1g"
    start_timeout_s: float = Field(120.0, gt=0)


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


class ModelSettings(BaseModel):
    """Where checkpoints live and what the models read (FEATURES.md vectors, issue 17)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dir: Path = Field(default_factory=lambda: _default_home() / "models", description="checkpoints, per kind")
    keep: int = Field(5, ge=1, le=50, description="checkpoints kept per kind (the best by validation metric)")
    window_s: int = Field(60, ge=5, description="seconds of feature vectors the cnn reads")
    horizon_s: int = Field(60, ge=1, description="the direction's horizon, and the embargo of the split")
    dead_zone_bps: float = Field(2.0, ge=0, description="returns within +-this over the horizon are flat")
    kinds: tuple[str, ...] = Field((), description='your model kinds the strategy flow runs beside cnn and dqn '
                                   '(JSON list of module:Class, e.g. ["mypkg.kinds:MyKind"])')

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        for k in kinds:
            if not _CLASS_SPEC.match(k):
                raise ValueError(f"model kind {k!r}: expected module:Class")
        return kinds


class PluginSpec(BaseModel):
    """A plug-in by `module:Class` with its parameters (checked by the class's own Params)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    use: str = Field(pattern=_CLASS_SPEC.pattern, description="module:Class")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"use": value} if isinstance(value, str) else value


class TradingSettings(BaseModel):
    """Paper execution and its risk manager (EXECUTION.md); per-symbol shorting and route
    are under `trading:` in symbols.yaml, taker fees per venue at its top."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    mode: str = Field("paper", description="paper (simulated fills) or off (decisions only)")
    run_id: str = Field("paper", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                        description="the `run` tag of the account's rows: `paper` live, a backtest's own id")
    initial_cash: float = Field(100_000.0, gt=0, description="quote currency")
    risk_per_trade: float = Field(0.01, gt=0, le=1, description="equity fraction lost if a stop is hit")
    stop_loss_pct: float = Field(0.005, gt=0, lt=1, description="stop distance from the average entry")
    max_order_notional: float = Field(25_000.0, gt=0)
    max_position_notional: float = Field(50_000.0, gt=0)
    max_orders_per_minute: int = Field(6, ge=1, description="per symbol, over the last 60 s of decisions")
    max_drawdown_pct: float = Field(0.05, gt=0, le=1, description="from peak equity: close all and halt")
    daily_loss_pct: float = Field(0.03, gt=0, le=1, description="from the UTC day's start: close all until next day")
    min_quality: float = Field(0.5, ge=0, le=1, description="below it no new exposure")
    min_order_notional: float = Field(
        250.0, ge=0, description="an order smaller than this is not sent, so a held target is not rebalanced "
        "on every move of the mid (0: every difference from the target is traded, EXECUTION.md to the letter)")
    trade_from_s: int | None = Field(
        None, ge=0, description="epoch second before which nothing is traded (a warm-up: walk-forward tests)")
    trade_until_s: int | None = Field(None, ge=0, description="epoch second from which nothing is traded")
    baseline: bool = Field(False, description="also run the buy-and-hold baseline (its fills, orders and equity "
                           "are rows of run <run_id>.buy_and_hold); backtests turn it on for their report")
    control_dir: Path = Field(default_factory=lambda: _default_home() / "trading",
                              description="`cobflow trading` commands in, the live flow's status out")
    queue_model: str = Field(
        "risk_averse", description="how resting limit orders move up their queue: risk_averse (only trades at "
        "the price; EXECUTION.md) or power_prob (hftbacktest's probabilistic model, n = 3: optimistic)")
    risk_rules: tuple[PluginSpec, ...] = Field(
        (), description='your pre-trade rules after rules 1-5, in order (JSON): ["mypkg.rules:MaxSpread"] or '
        '[{"use": "mypkg.rules:MaxSpread", "params": {"max_bps": 5}}]')

    @field_validator("queue_model")
    @classmethod
    def _queue(cls, name: str) -> str:
        if name not in ("risk_averse", "power_prob"):
            raise ValueError(f"expected risk_averse or power_prob, got {name!r}")
        return name

    @field_validator("mode")
    @classmethod
    def _mode(cls, mode: str) -> str:
        if mode == "live":
            raise ValueError("live trading is not available in this version; use paper or off")
        if mode not in ("paper", "off"):
            raise ValueError(f"expected paper or off, got {mode!r} (live trading is not available in this version)")
        return mode

    def book_notional(self) -> float:
        """Notional of levels each venue side hands execution: the largest order that passes
        the risk rules is a flip of a full position, twice the limits (and a margin)."""
        return 4.0 * max(self.max_order_notional, self.max_position_notional)


MODEL_SOURCES = ("cnn", "dqn")


def strategy_name_problem(name: str) -> str | None:
    """Why this is no strategy name (a built-in's, or module:Class); None when it is one."""
    if name in STRATEGIES or _CLASS_SPEC.match(name):
        return None
    return f"unknown strategy {name!r}; built-in: {', '.join(STRATEGIES)}; yours: module:Class"


class StrategySettings(BaseModel):
    """The strategies of the flow (`--strategy NAME[,NAME...]`): each a built-in's name or
    `module:Class`, each its own run with its own account; unset, each symbol's
    `strategy.use` in symbols.yaml (default combined)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str | None = Field(default=None, description="comma separated: " + ", ".join(STRATEGIES) + ", or module:Class")
    signals: tuple[PluginSpec, ...] = Field(
        default=(), description='your rule signals asked each second after the built-ins (JSON): ["mypkg.sig:Spread"] or '
        '[{"use": "mypkg.sig:Spread", "params": {...}}]')

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is None:
            return None
        names = [n.strip() for n in name.split(",")]
        for n in names:
            problem = strategy_name_problem(n)
            if problem:
                raise ValueError(problem)
        return ",".join(names)


SYMBOLS_FILE = "symbols.yaml"  # its name in the working folder and in a compute's output folder


def default_symbols_file() -> Path:
    """./symbols.yaml where the command runs, if there is one; else the project's."""
    here = Path.cwd() / SYMBOLS_FILE
    return here if here.is_file() else PROJECT_ROOT / SYMBOLS_FILE


class Settings(BaseSettings):
    """Every `COBFLOW_*` variable is a field here; settings are frozen once loaded (a
    flow started as a subprocess gets its own from the same environment)."""

    model_config = SettingsConfigDict(
        env_prefix="COBFLOW_", env_nested_delimiter="__", extra="forbid", frozen=True, allow_inf_nan=False
    )

    symbols_file: Path = Field(default_factory=default_symbols_file,
                               description="--config; else ./symbols.yaml in the working folder if there is one; "
                               "else the project's")
    native: bool = Field(True, description="false: the Python code does all the native core's work")
    debug: bool = Field(False, description="errors show their traceback, not one line")
    require_compose: bool = Field(False, description="tests: fail instead of skip without docker-compose")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    questdb: QuestDBSettings = Field(default_factory=QuestDBSettings)
    services: ServicesSettings = Field(default_factory=ServicesSettings)
    flow: FlowSettings = Field(default_factory=FlowSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    trading: TradingSettings = Field(default_factory=TradingSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with clear errors instead of a pydantic traceback."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe("settings (COBFLOW_* environment)", exc, env=True)) from None


# --- symbols.yaml -------------------------------------------------------------------------

_BPS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*bps\s*$", re.IGNORECASE)


class Bucket(BaseModel):
    """A price-bucket size: an absolute step, or basis points of each second's mid."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    step: float | None = None
    bps: float | None = None

    def size(self, mid: float) -> float:
        return self.step if self.step is not None else mid * self.bps / 1e4  # type: ignore[operator]

    def __str__(self) -> str:
        return f"{self.bps:g}bps" if self.bps is not None else f"{self.step:g}"


def parse_bucket(value: Any) -> Bucket:
    if isinstance(value, bool):
        raise ValueError(f"expected a positive number or '<n>bps', got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"expected a positive price step, got {value!r}")
        return Bucket(step=float(value))
    if isinstance(value, str):
        m = _BPS.match(value)
        if m and float(m.group(1)) > 0:
            return Bucket(bps=float(m.group(1)))
        try:
            return parse_bucket(float(value))
        except ValueError:
            pass
    raise ValueError(f"expected a positive number or '<n>bps' (e.g. 10 or '1bps'), got {value!r}")


def canonical_market(market: str) -> str:
    """`btc/usd`, `BTC_USD`, `BTC-USD` -> `BTC-USD` (the contract's BASE-QUOTE form)."""
    return re.sub(r"[/_:]", "-", market.strip()).upper()


TIMEFRAMES = ("1s", "1m", "1h", "1d")  # METRICS.md bar timeframes


class FeatureSpec(BaseModel):
    """FEATURES.md's settings of one symbol (`features:` under it in symbols.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    indicator_timeframes: tuple[str, ...] = TIMEFRAMES
    pivot_timeframes: tuple[str, ...] = ("1s", "1m")
    pivot_strength: int = Field(2, ge=1, le=50, description="level-1 pivots: bars on each side")
    stale_after_s: float = Field(5.0, gt=0, description="freshness: a venue silent this long is stale")
    min_quality: float = Field(0.5, ge=0, le=1, description="below it no model runs, no exposure is added")

    @field_validator("indicator_timeframes", "pivot_timeframes")
    @classmethod
    def _timeframes(cls, tfs: tuple[str, ...]) -> tuple[str, ...]:
        for tf in tfs:
            if tf not in TIMEFRAMES:
                raise ValueError(f"unknown timeframe {tf!r}; known: {', '.join(TIMEFRAMES)}")
        return tuple(dict.fromkeys(tfs))


class StrategySpec(BaseModel):
    """Rule signals and the decision maker of one symbol (`strategy:` under it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    imbalance_average: str = Field("li_ma_15", pattern=r"^li_ma_(1|5|15|60)$")
    imbalance_threshold: float = Field(0.3, gt=0, lt=1)
    arb_notional: float = Field(10_000.0, gt=0, description="size (quote) an arbitrage must be executable for")
    anomaly_z: float = Field(4.0, gt=0)
    decision_threshold: float = Field(0.2, gt=0, le=1, description="|combined score| needed to BUY or SELL")
    smoothing_s: int = Field(
        30, ge=1, le=3600, description="a model's vote is the exponential average of its last this many seconds' "
        "score (1: that second's alone): a decision follows a call that lasts, not one second's noise")
    use: str | None = Field(None, description="the symbol's strategy: a built-in's name or module:Class "
                            "(default combined; --strategy overrides it)")
    params: dict[str, Any] = Field(default_factory=dict, description="parameters of `use`, checked by its Params")

    @field_validator("use")
    @classmethod
    def _use(cls, use: str | None) -> str | None:
        problem = None if use is None else strategy_name_problem(use)
        if problem:
            raise ValueError(problem)
        return use


class TradingSpec(BaseModel):
    """Paper execution of one symbol (`trading:` under it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    shorting: bool = Field(True, description="false: SELL means flat")
    route: str = Field("all", description="all (the merged books of every synced venue) or one venue")
    tick_size: dict[str, float] = Field(
        default_factory=dict, description="venue -> its price tick on this market (venue prices): a limit "
        "order off the tick is refused; a converted market's price is rounded to it")

    @field_validator("tick_size")
    @classmethod
    def _ticks(cls, ticks: dict[str, float]) -> dict[str, float]:
        for venue, tick in ticks.items():
            if not math.isfinite(tick) or tick <= 0:
                raise ValueError(f"{venue}: expected a tick > 0, got {tick!r}")
        return ticks


def quote_of(market: str) -> str | None:
    """The quote currency of a canonical market or symbol (`BTC-USDT` -> `USDT`), None
    when the name has no BASE-QUOTE form."""
    base, sep, quote = market.rpartition("-")
    return quote if sep and base and quote else None


def converted_quote(market: str, quote: Mapping[str, Any]) -> str | None:
    """The quote currency a venue market's prices convert from under these conversions
    (a symbol's `quote:`), None when they stay as quoted."""
    currency = quote_of(market)
    return currency if currency is not None and currency in quote else None


class QuoteRate(BaseModel):
    """How one quote currency converts into its symbol's quote (METRICS.md "Quote
    conversion"): the mid of a configured market (`market: coinbase:USDT-USD`, whose base is
    the currency converted and whose quote is the symbol's) or a fixed `rate`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    market: str | None = Field(None, description="<venue>:<market> whose mid is the rate, e.g. coinbase:USDT-USD")
    rate: float | None = Field(None, gt=0, description="a fixed rate instead of a market's")

    @model_validator(mode="before")
    @classmethod
    def _plain_number(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"rate": value}
        return value

    @model_validator(mode="after")
    def _one(self) -> QuoteRate:
        if (self.market is None) == (self.rate is None):
            raise ValueError("give either a fixed rate (USDT: 1.0) or a market (USDT: {market: coinbase:USDT-USD})")
        return self

    @field_validator("market")
    @classmethod
    def _market(cls, value: str | None) -> str | None:
        if value is None:
            return None
        venue, sep, market = value.partition(":")
        venue = venue.strip()
        if not sep or not market.strip():
            raise ValueError(f"expected <venue>:<market> like coinbase:USDT-USD, got {value!r}")
        if venue not in VENUES:
            raise ValueError(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
        return f"{venue}:{canonical_market(market)}"

    @property
    def venue_market(self) -> tuple[str, str] | None:
        if self.market is None:
            return None
        venue, _, market = self.market.partition(":")
        return venue, market

    def label(self) -> str:
        return self.market if self.market is not None else "fixed"


class SymbolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    bucket: Bucket = Field(description='price bucket: an absolute step (10 = $10) or "<n>bps" of each second\'s mid')
    venues: dict[str, str] = Field(description="venue id -> its market, BASE-QUOTE as the venue lists it")
    quote: dict[str, QuoteRate] = Field(
        default_factory=dict, description="quote currency -> its rate into the symbol's quote (off when empty)")
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    trading: TradingSpec = Field(default_factory=TradingSpec)

    @model_validator(mode="after")
    def _route(self) -> SymbolSpec:
        route = self.trading.route
        if route != "all" and route not in self.venues:
            raise ValueError(f"trading.route {route!r} is not one of this symbol's venues "
                             f"({', '.join(sorted(self.venues))}) or 'all'")
        for venue in self.trading.tick_size:
            if venue not in self.venues:
                raise ValueError(f"trading.tick_size.{venue}: not one of this symbol's venues "
                                 f"({', '.join(sorted(self.venues))})")
        return self

    def converts(self, market: str) -> str | None:
        """The quote currency this venue market's prices convert from (None: as quoted)."""
        return converted_quote(market, self.quote)

    def rate_markets(self) -> list[tuple[str, str]]:
        """(venue, market) of each rate this symbol reads from a market."""
        return sorted({r.venue_market for r in self.quote.values() if r.venue_market is not None})

    @field_validator("bucket", mode="before")
    @classmethod
    def _bucket(cls, value: Any) -> Bucket:
        if isinstance(value, Bucket):
            return value
        return parse_bucket(value)

    @field_validator("venues")
    @classmethod
    def _venues(cls, venues: dict[str, str]) -> dict[str, str]:
        if not venues:
            raise ValueError("list at least one venue: market (e.g. binance: BTC-USDT)")
        out = {}
        for venue, market in venues.items():
            if venue not in VENUES:
                raise ValueError(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
            if not isinstance(market, str) or not market.strip():
                raise ValueError(f"venue {venue!r}: expected a market name like BTC-USDT")
            out[venue] = canonical_market(market)
        return out

    @field_validator("quote")
    @classmethod
    def _quotes(cls, quote: dict[str, QuoteRate]) -> dict[str, QuoteRate]:
        return {currency.strip().upper(): rate for currency, rate in quote.items()}


def check_quotes(symbol: str, spec: SymbolSpec) -> None:
    """A symbol's quote conversions make sense: the symbol is BASE-QUOTE, each currency is
    one some venue market of it quotes in, and a rate market prices that currency in the
    symbol's quote (coinbase:USDT-USD for USDT into USD)."""
    if not spec.quote:
        return
    mine = quote_of(symbol)
    if mine is None:
        raise ValueError(f"symbols.{symbol}.quote: the symbol's name must be BASE-QUOTE (e.g. BTC-USD) to convert quotes")
    used = {quote_of(m) for m in spec.venues.values()}
    for currency, rate in spec.quote.items():
        if currency == mine:
            raise ValueError(f"symbols.{symbol}.quote.{currency}: that is the symbol's own quote")
        if currency not in used:
            raise ValueError(f"symbols.{symbol}.quote.{currency}: no venue market of {symbol} quotes in {currency}")
        if rate.venue_market is not None:
            market = rate.venue_market[1]
            if market != f"{currency}-{mine}":
                raise ValueError(f"symbols.{symbol}.quote.{currency}: the rate market must be {currency}-{mine} "
                                 f"(its mid: {mine} per {currency}), got {market}")


DEFAULT_TAKER_FEE_BPS = 10.0
DEFAULT_MAKER_FEE_BPS = 2.0


class SymbolsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    symbols: dict[str, SymbolSpec] = Field(description="symbol (BASE-QUOTE) -> its markets and settings")
    taker_fee_bps: dict[str, float] = Field(default_factory=dict, description="per venue (default 10)")
    maker_fee_bps: dict[str, float] = Field(
        default_factory=dict, description="per venue, paid by resting limit orders' fills (default 2; negative: "
        "a rebate)")

    def fee_bps(self, venue: str) -> float:
        return self.taker_fee_bps.get(venue, DEFAULT_TAKER_FEE_BPS)

    def maker_bps(self, venue: str) -> float:
        return self.maker_fee_bps.get(venue, DEFAULT_MAKER_FEE_BPS)

    @field_validator("taker_fee_bps", "maker_fee_bps")
    @classmethod
    def _fees(cls, fees: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        maker = info.field_name == "maker_fee_bps"  # a maker fee may be negative: a rebate
        low, what = (-1e4, "a maker fee in bps between -10000 and 10000 (negative: a rebate)") if maker else \
            (0.0, "a fee in bps between 0 and 10000")
        for venue, bps in fees.items():
            if venue not in VENUES:
                raise ValueError(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
            if not math.isfinite(bps) or bps < low or bps >= 1e4 or (maker and bps == low):
                raise ValueError(f"{venue}: expected {what}, got {bps!r}")
        return fees

    @model_validator(mode="after")
    def _no_duplicate_markets(self) -> SymbolsConfig:
        if not self.symbols:
            raise ValueError("no symbols configured")
        seen: dict[tuple[str, str], str] = {}
        for symbol, spec in self.symbols.items():
            for venue, market in spec.venues.items():
                other = seen.get((venue, market))
                if other is not None:
                    raise ValueError(
                        f"duplicate market: {venue} {market} is listed under both "
                        f"{other} and {symbol}"
                    )
                seen[(venue, market)] = symbol
            check_quotes(symbol, spec)
        return self

    def venues(self) -> list[str]:
        """Every venue read: the symbols' markets and the rate markets."""
        return sorted(self.markets())

    def markets(self) -> dict[str, list[str]]:
        """venue -> the markets read there (each symbol's, then the rate markets), once each."""
        out: dict[str, list[str]] = {}
        for (venue, market) in self.readers():
            out.setdefault(venue, []).append(market)
        return {v: out[v] for v in sorted(out)}

    def readers(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(venue, market) -> the symbols that read it: one for a symbol's market, every
        symbol converting with it for a rate market (a market may be both)."""
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for symbol, spec in self.symbols.items():
            for key in [*spec.venues.items(), *spec.rate_markets()]:
                if symbol not in out.get(key, ()):
                    out[key] = (*out.get(key, ()), symbol)
        return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML where a key given twice in one mapping is an error: plain YAML keeps the last,
    so `binance:` listed twice under a symbol would silently trade the second market."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:  # type: ignore[override]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:  # a list or a mapping as a key: the base loader says so
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice in one mapping (lines {seen[key]} and {line}); keep one",
                    key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep)


def load_symbols(path: Path | str) -> SymbolsConfig:
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set COBFLOW_SYMBOLS_FILE or --config)") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML: {problem}{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'symbols:' key at the top")
    try:
        return SymbolsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(str(path), exc)) from None


def _describe(source: str, exc: ValidationError, env: bool = False) -> str:
    """One line: the source, then each bad key and what is wrong with it."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if env:
            key = "COBFLOW_" + "__".join(p.upper() for p in loc)
        else:
            key = ".".join(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "missing (required)"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{key}: {msg}" if loc else msg)  # a rule over several keys names them itself
    return f"{source}: invalid configuration: " + "; ".join(problems)
