"""Binance spot through ccxt: the spot testnet (testnet.binance.vision) by default, its test
order endpoint (`POST /api/v3/order/test`) for shadow mode, client ids in
`newClientOrderId`/`origClientOrderId`."""

from cobflow.connectors.trading.client import VenueProfile

PROFILE = VenueProfile(
    venue="binance",
    ccxt_id="binance",
    # spot only: the futures testnet is retired (ccxt refuses it) and sapi has no sandbox
    options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
             "warnOnFetchOpenOrdersWithoutSymbol": False},
    # what an `endpoints` URL replaces: ccxt's API groups -> the path under that URL
    url_groups={"public": "/api/v3", "private": "/api/v3", "v1": "/api/v1"},
    client_id_param="newClientOrderId",
    query_id_param="origClientOrderId",
    test_order=True,
)
