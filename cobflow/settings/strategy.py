"""The strategies' settings: the strategy section (`COBFLOW_STRATEGY__*`) and each symbol's
`strategy:` in symbols.yaml (rule signals, the built-ins' decision, `use` and `params`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cobflow.names import STRATEGIES
from cobflow.settings.base import _CLASS_SPEC, PluginSpec

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
