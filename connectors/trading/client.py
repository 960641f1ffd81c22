"""One order client for every venue, through ccxt (unmodified): the venue's profile says how
ccxt reaches its sandbox and which fields carry a client id. The client turns ccxt's answers
into `VenueOrder`s and its errors into the five outcomes the gateway acts on:

- `RateLimited`: the venue refused for load (429/418): nothing happened, repeat after `retry_after_s`
- `Uncertain`: no answer, or a 5xx: the request may have taken effect; query before anything else
- `NotFound`: the venue has no order of that client id
- `Duplicate`: the venue already has an open order of that client id
- `Rejected`: the venue refused the order (funds, filters, ...): final

A refused key (`Unauthorized`) stops the gateway with one line. Messages never carry the keys:
they are cut to the venue's own words and scrubbed of the key, the secret and signatures.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cobflow.execution.live import OrderIntent
from cobflow.settings.base import ConfigError

if TYPE_CHECKING:
    from cobflow.settings.secrets import VenueKeys


@dataclass(frozen=True)
class VenueProfile:
    venue: str
    ccxt_id: str
    options: dict[str, Any] = field(default_factory=dict)
    url_groups: dict[str, str] = field(default_factory=dict)  # ccxt API group -> path under an endpoint URL
    client_id_param: str = "clientOrderId"
    query_id_param: str = "clientOrderId"
    test_order: bool = False  # the venue validates an order without placing it (ccxt's params {"test": True})
    # how an order is found by its client id: one fetch_order (Binance), or the open orders then
    # the closed ones, each filtered by the client id (Bybit v5: no single lookup for both)
    query_open_then_closed: bool = False


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it; `fee` None until its trades are read."""

    client_id: str
    venue_order_id: str | None
    status: str  # the live state machine's: open, partially_filled, filled, cancelled, rejected, expired
    side: str
    type: str
    qty: float
    price: float | None
    filled: float
    notional: float
    fee: float | None = None
    fees: dict[str, float] | None = None  # per asset, as charged (None: not known yet)
    complete: bool = True  # False: an acknowledgement without the order's state (Bybit's create): query it


class VenueProblem(Exception):
    pass


class RateLimited(VenueProblem):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Uncertain(VenueProblem):
    pass


class NotFound(VenueProblem):
    pass


class Duplicate(VenueProblem):
    pass


class Rejected(VenueProblem):
    pass


class Unauthorized(ConfigError):
    pass


_STATUS = {"open": "open", "closed": "filled", "canceled": "cancelled", "cancelled": "cancelled",
           "expired": "expired", "rejected": "rejected"}
_SIGNATURE = re.compile(r"(signature|sign)=[0-9A-Za-z%+/=_-]+", re.IGNORECASE)


class _Scrub(logging.Filter):
    """Cuts the keys out of every record the HTTP layers log (ccxt logs a request's headers,
    the API key among them, at DEBUG; urllib3 logs signed URLs)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = _SIGNATURE.sub(r"\1=***", text)
        for s in self.secrets:
            clean = clean.replace(s, "***")
        if clean != text:
            record.msg, record.args = clean, None
        return True


_SCRUB = _Scrub()
for _name in ("ccxt", "ccxt.base.exchange", "urllib3.connectionpool", "aiohttp.client", "cobflow.gateway",
              "cobflow.trade"):
    logging.getLogger(_name).addFilter(_SCRUB)


def _num(v: object) -> float:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


class CcxtClient:
    def __init__(self, profile: VenueProfile, keys: VenueKeys | None, sandbox: bool = True,
                 endpoint: str | None = None, timeout_s: float = 10.0) -> None:
        import ccxt

        self.profile = profile
        self.venue = profile.venue
        self._ccxt = ccxt
        self._keys, self._timeout_s, self._sandbox = keys, timeout_s, sandbox
        self._secrets: list[str] = keys.values() if keys is not None else []
        _SCRUB.secrets.update(self._secrets)
        self.exchange = self._exchange()
        if endpoint is not None:
            for group, path in profile.url_groups.items():
                self.exchange.urls["api"][group] = endpoint + path
        self._loaded = False

    def _exchange(self) -> Any:
        """A ccxt client of the venue: the keys go to it only (no copy of them is kept here)."""
        config: dict[str, Any] = {"enableRateLimit": True, "timeout": int(self._timeout_s * 1000),
                                  "options": dict(self.profile.options)}
        keys = self._keys
        if keys is not None:
            config["apiKey"] = keys.api_key.get_secret_value()
            config["secret"] = keys.secret.get_secret_value()
            if keys.passphrase is not None:
                config["password"] = keys.passphrase.get_secret_value()
        exchange = getattr(self._ccxt, self.profile.ccxt_id)(config)
        if self._sandbox:
            exchange.set_sandbox_mode(True)
        return exchange

    # --- errors ----------------------------------------------------------------------------
    def _say(self, e: BaseException) -> str:
        text = " ".join(str(e).split())
        for s in self._secrets:
            text = text.replace(s, "***")
        text = _SIGNATURE.sub(r"\1=***", text)
        return f"{type(e).__name__}: {text[:300]}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        ccxt = self._ccxt
        try:
            return fn(*args, **kwargs)
        except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as e:
            headers = {k.lower(): v for k, v in (self.exchange.last_response_headers or {}).items()}
            retry = _num(headers.get("retry-after"))
            reset_ms = _num(headers.get("x-bapi-limit-reset-timestamp"))  # Bybit: when the limit resets
            if not retry and reset_ms:
                retry = max(0.0, reset_ms / 1000 - time.time())
            retry = retry or 1.0
            raise RateLimited(self._say(e), retry) from None
        except ccxt.AuthenticationError as e:
            raise Unauthorized(f"{self.venue} refused the API key: {self._say(e)}") from None
        except ccxt.PermissionDenied as e:
            raise Unauthorized(f"{self.venue} refused the action for this key: {self._say(e)}") from None
        except ccxt.OrderNotFound as e:
            raise NotFound(self._say(e)) from None
        except ccxt.InvalidOrder as e:
            if "duplicate" in str(e).lower():
                raise Duplicate(self._say(e)) from None
            raise Rejected(self._say(e)) from None
        except (ccxt.OperationFailed, ccxt.ExchangeNotAvailable) as e:
            raise Uncertain(self._say(e)) from None
        except ccxt.BaseError as e:
            raise Rejected(self._say(e)) from None
        except OSError as e:
            raise Uncertain(self._say(e)) from None

    # --- markets ---------------------------------------------------------------------------
    def load(self) -> None:
        if not self._loaded:
            self._call(self.exchange.load_markets)
            self._loaded = True

    def sender(self) -> CcxtClient:
        """Another client of the same venue and keys for a sender thread: the markets this one
        loaded, and its share of the venue's request rate (ccxt throttles per client)."""
        self.load()
        other = CcxtClient.__new__(CcxtClient)
        other.__dict__.update(self.__dict__)
        other.exchange = self._exchange()
        other.exchange.urls["api"] = dict(self.exchange.urls["api"])
        other.exchange.set_markets(self.exchange.markets, self.exchange.currencies)
        return other

    def base_quote(self, market: str) -> tuple[str, str]:
        self.load()
        m = self.exchange.market(market)
        return m["base"], m["quote"]

    def is_contract(self, market: str) -> bool:
        """A perpetual (settled in its quote), not a spot market."""
        self.load()
        return bool(self.exchange.market(market).get("contract"))

    def position(self, market: str) -> float:
        """The venue's signed position in a perpetual (0 without one)."""
        self.load()
        out = 0.0
        for p in self._call(self.exchange.fetch_positions, [market]):
            size = _num(p.get("contracts")) * (_num(p.get("contractSize")) or 1.0)
            out += -size if p.get("side") == "short" else size
        return out

    def _amount(self, intent: OrderIntent) -> str:
        try:
            amount = self.exchange.amount_to_precision(intent.market, intent.qty)
        except self._ccxt.BaseError as e:  # below the venue's minimum
            raise Rejected(self._say(e)) from None
        if _num(amount) <= 0:
            raise Rejected(f"quantity {intent.qty} is below {self.venue}'s step for {intent.market}")
        return amount

    def _order_args(self, intent: OrderIntent) -> tuple[list[Any], dict[str, Any]]:
        self.load()
        if intent.market not in self.exchange.markets:
            raise Rejected(f"{self.venue} has no market {intent.market}")
        params: dict[str, Any] = {self.profile.client_id_param: intent.client_id}
        if intent.reduce_only:
            params["reduceOnly"] = True
        price = None
        if intent.type == "limit":
            price = self.exchange.price_to_precision(intent.market, intent.price)
            if intent.post_only:
                params["postOnly"] = True
            elif intent.tif == "IOC":
                params["timeInForce"] = "IOC"
        return [intent.market, intent.type, intent.side, self._amount(intent), price], params

    # --- orders ----------------------------------------------------------------------------
    def place(self, intent: OrderIntent) -> VenueOrder:
        args, params = self._order_args(intent)
        return self._order(self._call(self.exchange.create_order, *args, params=params), intent.client_id)

    def validate(self, intent: OrderIntent) -> None:
        """Shadow mode: the venue checks the order without placing it where it can (Binance's
        test order); elsewhere the market's own limits (precision, minimum amount and cost)."""
        args, params = self._order_args(intent)
        if self.profile.test_order:
            self._call(self.exchange.create_order, *args, params={**params, "test": True})
            return
        limits = self.exchange.market(intent.market).get("limits") or {}
        low = (limits.get("amount") or {}).get("min")
        if low is not None and _num(args[3]) < low:
            raise Rejected(f"quantity {args[3]} is below {self.venue}'s minimum {low} for {intent.market}")

    def query(self, market: str, client_id: str) -> VenueOrder:
        self.load()
        by_id = {self.profile.query_id_param: client_id}
        if not self.profile.query_open_then_closed:
            return self._order(self._call(self.exchange.fetch_order, None, market, params=by_id), client_id)
        for fetch in (self.exchange.fetch_open_orders, self.exchange.fetch_canceled_and_closed_orders):
            found = [o for o in self._call(fetch, market, params=by_id) if o.get("clientOrderId") == client_id]
            if found:
                return self._order(found[-1], client_id)
        raise NotFound(f"{self.venue} has no order {client_id} on {market}")

    def cancel(self, market: str, client_id: str) -> VenueOrder:
        self.load()
        raw = self._call(self.exchange.cancel_order, None, market, params={self.profile.query_id_param: client_id})
        return self._order(raw, client_id)

    def open_orders(self, market: str) -> list[VenueOrder]:
        self.load()
        return [self._order(o, o.get("clientOrderId") or "") for o in
                self._call(self.exchange.fetch_open_orders, market)]

    def balances(self) -> dict[str, float]:
        """Total (free + locked) per asset, non-zero ones."""
        raw = self._call(self.exchange.fetch_balance)
        return {a: _num(v) for a, v in (raw.get("total") or {}).items() if _num(v) != 0}

    def fees_of(self, market: str, venue_order_id: str) -> tuple[float, dict[str, float]]:
        """An order's fees from its trades: in the quote currency, and per asset as charged."""
        return self._fees(market, self._call(self.exchange.fetch_order_trades, venue_order_id, market))

    def _fees(self, market: str, trades: list[dict[str, Any]]) -> tuple[float, dict[str, float]]:
        """In quote: a fee in the base is valued at its trade's price, one in a third asset
        (BNB) is not counted; per asset: every fee as charged."""
        base, quote = self.base_quote(market)
        total, by_asset = 0.0, dict[str, float]()
        for t in trades:
            for fee in t.get("fees") or ([t["fee"]] if t.get("fee") else []):
                asset, cost = fee.get("currency"), _num(fee.get("cost"))
                if asset is None or cost == 0:
                    continue
                by_asset[asset] = by_asset.get(asset, 0.0) + cost
                if asset == quote:
                    total += cost
                elif asset == base:
                    total += cost * _num(t.get("price"))
        return total, by_asset

    def _order(self, raw: dict[str, Any], client_id: str) -> VenueOrder:
        filled = _num(raw.get("filled"))
        status = _STATUS.get(str(raw.get("status")), "open")
        if status == "open" and filled > 0:
            status = "partially_filled"
        qty = _num(raw.get("amount"))
        if status == "filled" and qty > 0 and filled < qty * (1 - 1e-9):
            status = "expired"  # closed with less than its quantity: the venue ended the rest
        cost = raw.get("cost")
        notional = _num(cost) if cost is not None else filled * _num(raw.get("average"))
        fee, fees = None, None
        if raw.get("trades") and raw.get("symbol"):  # the answer carried its fills (Binance FULL)
            fee, fees = self._fees(str(raw["symbol"]), raw["trades"])
        elif filled == 0:
            fee, fees = 0.0, {}
        price = raw.get("price")
        return VenueOrder(client_id=raw.get("clientOrderId") or client_id,
                          venue_order_id=str(raw["id"]) if raw.get("id") is not None else None,
                          status=status, side=str(raw.get("side") or ""), type=str(raw.get("type") or ""),
                          qty=qty, price=_num(price) if price else None,
                          filled=filled, notional=notional, fee=fee, fees=fees, complete=raw.get("status") is not None)
