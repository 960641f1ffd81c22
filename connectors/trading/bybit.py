"""Bybit v5 through ccxt: the testnet (api-testnet.bybit.com) by default, a unified trading
account's spot markets and linear perpetuals (`trading: {instrument: perpetual}`), client ids
in `orderLinkId`. Bybit has no test-order endpoint: shadow
mode checks an order against the market's own limits."""

from cobflow.connectors.trading.client import VenueProfile

PROFILE = VenueProfile(
    venue="bybit",
    ccxt_id="bybit",
    # a unified trading account (testnet accounts are unified): no account-type probe
    options={"fetchMarkets": {"types": ["spot", "linear"]}, "defaultType": "spot", "enableUnifiedAccount": True,
             "enableUnifiedMargin": False},
    url_groups={"spot": "", "futures": "", "v2": "", "public": "", "private": ""},
    client_id_param="clientOrderId",  # ccxt puts it in orderLinkId
    query_id_param="orderLinkId",
    test_order=False,
    query_open_then_closed=True,
)
