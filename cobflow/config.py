"""Settings (pydantic-settings, `COBFLOW_...` environment overrides) and `symbols.yaml`:
each component's settings live in its own module of `cobflow.settings`; `Settings` composes
them here, and every name is importable from `cobflow.config`.

Environment variables use `__` between levels: `COBFLOW_KAFKA__PORT=19092`,
`COBFLOW_QUESTDB__TABLE_PREFIX=test_`, `COBFLOW_SYMBOLS_FILE=my.yaml`. Everything is
importable from `cobflow.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cobflow.names import PROJECT_ROOT
from cobflow.settings.base import ConfigError, PluginError, PluginSpec, _describe
from cobflow.settings.book import (
    TIMEFRAMES,
    Bucket,
    FeatureSpec,
    QuoteRate,
    canonical_market,
    converted_quote,
    parse_bucket,
    quote_of,
)
from cobflow.settings.flow import FlowSettings
from cobflow.settings.kafka import KafkaSettings
from cobflow.settings.models import ModelSettings
from cobflow.settings.questdb import QuestDBSettings
from cobflow.settings.services import ServicesSettings
from cobflow.settings.strategy import MODEL_SOURCES, StrategySettings, StrategySpec, strategy_name_problem
from cobflow.settings.symbols import (
    DEFAULT_MAKER_FEE_BPS,
    DEFAULT_TAKER_FEE_BPS,
    SymbolsConfig,
    SymbolSpec,
    check_quotes,
    load_symbols,
)
from cobflow.settings.trading import TradingSettings, TradingSpec

__all__ = [
    "DEFAULT_MAKER_FEE_BPS", "DEFAULT_TAKER_FEE_BPS", "MODEL_SOURCES", "SYMBOLS_FILE", "TIMEFRAMES", "Bucket",
    "ConfigError", "FeatureSpec", "FlowSettings", "KafkaSettings", "ModelSettings", "PluginError", "PluginSpec",
    "QuestDBSettings", "QuoteRate", "ServicesSettings", "Settings", "StrategySettings", "StrategySpec",
    "SymbolSpec", "SymbolsConfig", "TradingSettings", "TradingSpec", "canonical_market", "check_quotes",
    "converted_quote", "default_symbols_file", "load_settings", "load_symbols", "parse_bucket", "quote_of",
    "strategy_name_problem",
]

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
