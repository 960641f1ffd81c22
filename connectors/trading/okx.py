"""OKX v5 through ccxt: demo trading (ccxt's sandbox mode sends `x-simulated-trading: 1`), a
spot cash account, client ids in `clOrdId` (1-32 letters and digits: cobflow's ids fit), the
passphrase besides the key and secret. OKX has no test-order endpoint: shadow mode checks an
order against the market's own limits."""

from cobflow.connectors.trading.client import VenueProfile

PROFILE = VenueProfile(
    venue="okx",
    ccxt_id="okx",
    options={"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot"},
    url_groups={"rest": ""},
    client_id_param="clOrdId",
    query_id_param="clOrdId",
    test_order=False,
)
