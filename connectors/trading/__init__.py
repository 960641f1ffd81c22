"""Venue clients for orders, one module per venue (`connectors.trading.<venue>`), all through
ccxt: no hand-written signing. A venue module defines `PROFILE`, a `VenueProfile` saying
how ccxt reaches the venue's sandbox and its order fields; `client_for` makes the client.

Adding a venue is one module here and its name in `TRADING_VENUES`: the gateway talks to any
`OrderClient` (operators.gateway) the same way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cobflow.connectors.trading.client import CcxtClient

if TYPE_CHECKING:
    from cobflow.settings.secrets import VenueKeys
    from cobflow.settings.trading import TradingSettings

#: venues whose order API cobflow drives, tested against a local imitation of that API
TRADING_VENUES = ("binance", "bybit", "okx")


class UnsupportedVenue(LookupError):
    pass


def client_for(venue: str, keys: VenueKeys | None, trading: TradingSettings) -> CcxtClient:
    """The venue's order client, in its sandbox unless trading.environment is mainnet."""
    if venue not in TRADING_VENUES:
        raise UnsupportedVenue(f"orders on {venue} are not supported; venues with orders: "
                               f"{', '.join(TRADING_VENUES)}")
    profile = importlib.import_module(f"{__name__}.{venue}").PROFILE
    return CcxtClient(profile, keys, sandbox=trading.environment != "mainnet",
                      endpoint=trading.endpoints.get(venue), timeout_s=trading.request_timeout_s)
