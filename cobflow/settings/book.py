"""The consolidated book's settings of a symbol: its bucket size, market names, quote
conversion (METRICS.md), and FEATURES.md's `features:`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cobflow.venues import VENUES

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
