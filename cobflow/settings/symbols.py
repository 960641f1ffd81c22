"""symbols.yaml: the symbols, their venue markets and each component's per-symbol section,
the venues' fees; loaded with one-line errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from cobflow.settings.base import ConfigError, _describe
from cobflow.settings.book import Bucket, FeatureSpec, QuoteRate, canonical_market, converted_quote, parse_bucket, quote_of
from cobflow.settings.strategy import StrategySpec
from cobflow.settings.trading import TradingSpec
from cobflow.venues import VENUES


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
