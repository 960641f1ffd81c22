"""Execution's settings: the trading section (`COBFLOW_TRADING__*`) and each symbol's
`trading:` in symbols.yaml (EXECUTION.md)."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cobflow.settings.base import PluginSpec, _default_home

MODES = ("paper", "off", "shadow", "live")
#: the settings that take one of a few words
CHOICES = {"mode": MODES, "environment": ("testnet", "mainnet"), "queue_model": ("risk_averse", "power_prob"),
           "instrument": ("spot", "perpetual")}


def one_of(value: str, choices: tuple[str, ...]) -> str:
    """The value if it is one of the choices; else a ValueError naming them."""
    if value not in choices:
        named = " or ".join(choices) if len(choices) == 2 else f"one of {', '.join(choices)}"
        raise ValueError(f"expected {named}, got {value!r}")
    return value


class TradingSettings(BaseModel):
    """Paper execution and its risk manager (EXECUTION.md); per-symbol shorting and route
    are under `trading:` in symbols.yaml, taker fees per venue at its top."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    mode: str = Field("paper", description="paper (simulated fills), off (decisions only), shadow (real venue "
                      "connections, orders built and validated, nothing placed) or live (real orders: keys needed)")
    environment: str = Field("testnet", description="testnet (the venues' sandboxes: Binance spot testnet, Bybit "
                             "testnet, OKX demo trading) or mainnet (real money: `cobflow trade --mainnet` as well)")
    secrets_file: Path | None = Field(
        None, description="YAML of venue keys (venue: {api_key, secret, passphrase}), mode 0600; otherwise keys "
        "come from COBFLOW_<VENUE>_API_KEY, COBFLOW_<VENUE>_SECRET, COBFLOW_<VENUE>_PASSPHRASE")
    endpoints: dict[str, str] = Field(
        default_factory=dict, description="venue -> base URL replacing its REST API (a local exchange imitation, "
        "a proxy); the venue's sandbox or mainnet URL otherwise")
    live_venue: str = Field("binance", description="where shadow and live orders of a symbol routed to `all` go "
                            "(a symbol's `trading.route` names its venue otherwise)")
    reconcile_every_s: float = Field(30.0, gt=0, description="the gateway compares its orders and balances with "
                                     "each venue's this often (and at start)")
    senders: int = Field(4, ge=0, le=32, description="placements in flight at once per venue (cobflow trade): a "
                         "hung request holds up only its own order; the venue's request rate is shared among "
                         "them. 0: one request at a time")
    max_decision_age_s: float = Field(
        30.0, gt=0, description="live: the gateway places no order decided on a market second older than this "
        "(wall clock): a flow replaying old data (a new run, a restart without --recovery) must not trade it now")
    request_timeout_s: float = Field(10.0, gt=0, description="a venue request without an answer after this is "
                                     "`unknown`: the order is queried by its client id before anything else")
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

    @field_validator("queue_model", "mode", "environment")
    @classmethod
    def _choice(cls, value: str, info: ValidationInfo) -> str:
        return one_of(value, CHOICES[str(info.field_name)])

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, urls: dict[str, str]) -> dict[str, str]:
        for venue, url in urls.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{venue}: expected an http(s) URL, got {url!r}")
        return {v: u.rstrip("/") for v, u in urls.items()}

    def venue_orders(self) -> bool:
        """Orders go to the venues (shadow validates them there, live places them)."""
        return self.mode in ("shadow", "live")

    def book_notional(self) -> float:
        """Notional of levels each venue side hands execution: the largest order that passes
        the risk rules is a flip of a full position, twice the limits (and a margin)."""
        return 4.0 * max(self.max_order_notional, self.max_position_notional)


class TradingSpec(BaseModel):
    """Paper execution of one symbol (`trading:` under it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    shorting: bool = Field(True, description="false: SELL means flat")
    route: str = Field("all", description="all (the merged books of every synced venue) or one venue")
    tick_size: dict[str, float] = Field(
        default_factory=dict, description="venue -> its price tick on this market (venue prices): a limit "
        "order off the tick is refused; a converted market's price is rounded to it")
    instrument: str = Field("spot", description="what shadow and live orders trade at the venue: spot, or "
                            "perpetual (the linear perpetual of the same market, settled in its quote: shorts "
                            "are possible; leverage and funding are not modelled)")

    @field_validator("instrument")
    @classmethod
    def _instrument(cls, kind: str) -> str:
        return one_of(kind, CHOICES["instrument"])

    @field_validator("tick_size")
    @classmethod
    def _ticks(cls, ticks: dict[str, float]) -> dict[str, float]:
        for venue, tick in ticks.items():
            if not math.isfinite(tick) or tick <= 0:
                raise ValueError(f"{venue}: expected a tick > 0, got {tick!r}")
        return ticks
