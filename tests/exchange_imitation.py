"""A local imitation of Binance's spot REST API (the endpoints ccxt calls to trade), for the
live-trading tests: no exchange is reachable here.

It speaks what the venue documents (https://developers.binance.com/docs/binance-spot-api-docs/rest-api),
not what our code sends: signed endpoints need the `X-MBX-APIKEY` header and an HMAC-SHA256
`signature` of the query string concatenated with the body, keyed by the secret, and a
`timestamp` within `recvWindow` of the server's clock; errors are the venue's JSON
(`{"code": -2013, "msg": "Order does not exist."}`) with its HTTP statuses. Orders fill from a
scripted book the test sets: a market order walks the levels (what the book cannot fill
expires, as on Binance), a limit order takes what it crosses and rests; a resting order fills
whole when the test moves the book through its price. Fees are charged in the asset received
(base on a buy, quote on a sell), as on an account without BNB.

A test can make the next requests to an endpoint fail: `429` (with `Retry-After`), `5xx`,
`accept_then_hang` (the order is accepted, the answer never comes: the client times out),
`hide_fill` (the order's answer says NEW though it filled; only a query shows the fill).
Every request is logged (`requests`) so a test can count what the client really sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FEE_RATE = 0.001  # Binance spot's base taker and maker commission: 0.1%


@dataclass
class Market:
    symbol: str  # BTCUSDT
    base: str
    quote: str
    tick: float = 0.01
    step: float = 0.00001
    bids: list[tuple[float, float]] = field(default_factory=list)  # best first
    asks: list[tuple[float, float]] = field(default_factory=list)
    linear: bool = False  # a linear perpetual settled in the quote: a position, no base balance


@dataclass
class ImOrder:
    order_id: int
    client_id: str
    symbol: str
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT / LIMIT_MAKER
    qty: float
    price: float
    time_ms: int
    tif: str = "GTC"
    executed: float = 0.0
    quote: float = 0.0
    status: str = "NEW"
    reduce_only: bool = False

    def view(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1, "clientOrderId": self.client_id,
                "price": f"{self.price:.8f}", "origQty": f"{self.qty:.8f}", "executedQty": f"{self.executed:.8f}",
                "cummulativeQuoteQty": f"{self.quote:.8f}", "status": self.status, "timeInForce": self.tif,
                "type": self.type, "side": self.side, "stopPrice": "0.00000000", "icebergQty": "0.00000000",
                "time": self.time_ms, "updateTime": self.time_ms, "isWorking": self.status in ("NEW", "PARTIALLY_FILLED"),
                "workingTime": self.time_ms, "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "NONE"}


def _on_grid(p: dict[str, str], name: str, step: float, filter_name: str) -> float:
    """A number parameter that must be a multiple of the market's step (Binance's filters)."""
    try:
        x = float(p[name])
    except (KeyError, ValueError) as e:
        raise VenueError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or "
                                      "malformed.") from e
    if abs(round(x / step) * step - x) > 1e-9:
        raise VenueError(400, -1013, f"Filter failure: {filter_name}")
    return x


class VenueError(Exception):
    def __init__(self, http: int, code: int, msg: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.http, self.code, self.msg, self.headers = http, code, msg, headers or {}


class BinanceImitation:
    """The venue's state and rules; `serve()` puts it behind HTTP on a free local port."""

    def __init__(self, api_key: str, secret: str, balances: dict[str, float] | None = None,
                 recv_window_ms: int = 5000) -> None:
        self.api_key, self.secret = api_key, secret
        self.balances: dict[str, float] = dict(balances or {"USDT": 100_000.0, "BTC": 1.0, "ETH": 10.0})
        self.markets: dict[str, Market] = {}
        self.orders: dict[int, ImOrder] = {}
        self.trades: list[dict[str, Any]] = []
        self.positions: dict[str, tuple[float, float]] = {}  # perpetual -> (signed size, average entry)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.faults: dict[str, list[tuple[str, float]]] = {}
        self.served: dict[str, int] = {}  # faults answered, by kind
        self.recv_window_ms = recv_window_ms
        self._ids = itertools.count(1000)
        self._trade_ids = itertools.count(1)
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.hung: list[threading.Event] = []

    # --- what a test sets -------------------------------------------------------------
    def add_market(self, symbol: str, base: str, quote: str, bids: list[tuple[float, float]],
                   asks: list[tuple[float, float]], tick: float = 0.01, step: float = 0.00001,
                   linear: bool = False) -> None:
        with self.lock:
            self.markets[symbol] = Market(symbol, base, quote, tick, step, list(bids), list(asks), linear)

    def set_book(self, symbol: str, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        """A new book; resting orders it crosses fill whole at their price (maker)."""
        with self.lock:
            m = self.markets[symbol]
            m.bids, m.asks = list(bids), list(asks)
            for o in self.orders.values():
                if o.symbol != symbol or o.status not in ("NEW", "PARTIALLY_FILLED"):
                    continue
                through = (o.side == "BUY" and m.asks and m.asks[0][0] <= o.price) or \
                          (o.side == "SELL" and m.bids and m.bids[0][0] >= o.price)
                if through:
                    self._fill(o, o.qty - o.executed, o.price, maker=True)

    def fail(self, endpoint: str, kind: str, times: int = 1, retry_after: float = 1.0) -> None:
        """The next `times` requests to endpoint ("POST /api/v3/order", ...) fail with `kind`:
        429, 503, accept_then_hang, hide_fill; or go through (`ok`: to fail a later one)."""
        with self.lock:
            self.faults.setdefault(endpoint, []).extend([(kind, retry_after)] * times)

    def open_orders(self) -> list[ImOrder]:
        with self.lock:
            return [o for o in self.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")]

    def by_client(self, client_id: str) -> list[ImOrder]:
        with self.lock:
            return [o for o in self.orders.values() if o.client_id == client_id]

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)

    # --- the matching engine ------------------------------------------------------------
    def _fill(self, o: ImOrder, qty: float, price: float, maker: bool) -> None:
        m = self.markets[o.symbol]
        if qty <= 0:
            return
        notional = qty * price
        if m.linear:  # the position moves; the quote takes the realized PnL (average cost) and the fee
            fee, fee_asset = notional * FEE_RATE, m.quote
            pos, avg = self.positions.get(o.symbol, (0.0, 0.0))
            q = qty if o.side == "BUY" else -qty
            pnl = 0.0
            if pos == 0 or (pos > 0) == (q > 0):
                avg = (abs(pos) * avg + qty * price) / (abs(pos) + qty)
            else:
                pnl = (price - avg) * min(qty, abs(pos)) * (1 if pos > 0 else -1)
                if abs(q) > abs(pos):
                    avg = price
            pos += q
            self.positions[o.symbol] = (pos, avg if abs(pos) > 1e-12 else 0.0)
            self.balances[m.quote] = self.balances.get(m.quote, 0.0) + pnl - fee
        elif o.side == "BUY":
            fee, fee_asset = qty * FEE_RATE, m.base
            self.balances[m.quote] = self.balances.get(m.quote, 0.0) - notional
            self.balances[m.base] = self.balances.get(m.base, 0.0) + qty - fee
        else:
            fee, fee_asset = notional * FEE_RATE, m.quote
            self.balances[m.base] = self.balances.get(m.base, 0.0) - qty
            self.balances[m.quote] = self.balances.get(m.quote, 0.0) + notional - fee
        o.executed += qty
        o.quote += notional
        o.status = "FILLED" if o.executed >= o.qty - 1e-12 else "PARTIALLY_FILLED"
        self.trades.append({"symbol": o.symbol, "id": next(self._trade_ids), "orderId": o.order_id,
                            "orderListId": -1, "price": f"{price:.8f}", "qty": f"{qty:.8f}",
                            "quoteQty": f"{notional:.8f}", "commission": f"{fee:.8f}", "commissionAsset": fee_asset,
                            "time": int(time.time() * 1000), "isBuyer": o.side == "BUY", "isMaker": maker,
                            "isBestMatch": True})

    def _take(self, o: ImOrder, limit: float | None) -> list[dict[str, str]]:
        """Walk the other side's levels (up to limit); the levels taken leave the book."""
        m = self.markets[o.symbol]
        levels = m.asks if o.side == "BUY" else m.bids
        fills = []
        while levels and o.executed < o.qty - 1e-12:
            price, size = levels[0]
            if limit is not None and ((o.side == "BUY" and price > limit) or (o.side == "SELL" and price < limit)):
                break
            qty = min(size, o.qty - o.executed)
            before = len(self.trades)
            self._fill(o, qty, price, maker=False)
            t = self.trades[before]
            fills.append({"price": t["price"], "qty": t["qty"], "commission": t["commission"],
                          "commissionAsset": t["commissionAsset"], "tradeId": t["id"]})
            if qty >= size - 1e-12:
                levels.pop(0)
            else:
                levels[0] = (price, size - qty)
        return fills

    def _new_order(self, p: dict[str, str]) -> dict[str, Any]:
        symbol = p.get("symbol", "")
        if symbol not in self.markets:
            raise VenueError(400, -1121, "Invalid symbol.")
        m = self.markets[symbol]
        side, typ = p.get("side", ""), p.get("type", "")
        if side not in ("BUY", "SELL") or typ not in ("MARKET", "LIMIT", "LIMIT_MAKER"):
            raise VenueError(400, -1102, "Mandatory parameter 'side' or 'type' was not sent, was empty/null, "
                                          "or malformed.")
        qty = _on_grid(p, "quantity", m.step, "LOT_SIZE")
        price = _on_grid(p, "price", m.tick, "PRICE_FILTER") if typ != "MARKET" else 0.0
        cid = p.get("newClientOrderId") or f"x-{next(self._ids)}"
        if any(o.client_id == cid and o.status in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()):
            raise VenueError(400, -2010, "Duplicate order sent.")
        reduce_only = p.get("reduceOnly") in ("true", "True", True)
        if m.linear and reduce_only:  # only what shrinks the position, at most all of it
            pos = self.positions.get(symbol, (0.0, 0.0))[0]
            if pos == 0 or (pos > 0) == (side == "BUY"):
                raise VenueError(400, -4118, "reduce-only rule not satisfied")
            qty = min(qty, abs(pos))
        # funds: the whole order must be covered (a market buy at the worst level it may reach);
        # a perpetual's margin is not modelled
        if m.linear:
            pass
        elif side == "BUY":
            worst = price if typ != "MARKET" else (m.asks[-1][0] if m.asks else 0.0)
            if qty * worst > self.balances.get(m.quote, 0.0) + 1e-9:
                raise VenueError(400, -2010, "Account has insufficient balance for requested action.")
        elif qty > self.balances.get(m.base, 0.0) + 1e-12:
            raise VenueError(400, -2010, "Account has insufficient balance for requested action.")
        o = ImOrder(next(self._ids), cid, symbol, side, typ, qty, price, int(time.time() * 1000),
                    tif=p.get("timeInForce", "GTC") if typ == "LIMIT" else "GTC", reduce_only=reduce_only)
        crosses = (side == "BUY" and m.asks and m.asks[0][0] <= price) or \
                  (side == "SELL" and m.bids and m.bids[0][0] >= price)
        if typ == "LIMIT_MAKER" and crosses:
            raise VenueError(400, -2010, "Order would immediately match and take.")
        self.orders[o.order_id] = o
        fills = self._take(o, None if typ == "MARKET" else price) if typ != "LIMIT_MAKER" else []
        if o.status != "FILLED" and (typ == "MARKET" or o.tif in ("IOC", "FOK")):
            o.status = "EXPIRED"
        return {**o.view(), "transactTime": o.time_ms, "fills": fills}

    def _find(self, p: dict[str, str]) -> ImOrder:
        if "orderId" in p:
            o = self.orders.get(int(p["orderId"]))
            found = [o] if o is not None and o.symbol == p.get("symbol") else []
        elif "origClientOrderId" in p:
            found = [o for o in self.orders.values()
                     if o.client_id == p["origClientOrderId"] and o.symbol == p.get("symbol")]
        else:
            raise VenueError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                                          "empty/null!")
        if not found:
            raise VenueError(400, -2013, "Order does not exist.")
        return found[-1]

    def _cancel(self, o: ImOrder) -> dict[str, Any]:
        if o.status not in ("NEW", "PARTIALLY_FILLED"):
            raise VenueError(400, -2011, "Unknown order sent.")
        o.status = "CANCELED"
        return {**o.view(), "origClientOrderId": o.client_id, "transactTime": int(time.time() * 1000)}

    # --- the HTTP face ---------------------------------------------------------------------
    def handle(self, method: str, path: str, query: str, body: str, headers: dict[str, str]) -> tuple[int, Any, dict]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
        with self.lock:
            self.requests.append((method, path, params))
            queue = self.faults.get(f"{method} {path}")
            fault = queue.pop(0) if queue else None
            if fault is not None and fault[0] != "ok":
                self.served[fault[0]] = self.served.get(fault[0], 0) + 1
        if fault is not None and fault[0] in ("429", "503"):
            if fault[0] == "429":
                return 429, {"code": -1003, "msg": "Too many requests; current limit of IP is 6000 request weight "
                                                   "per 1 MINUTE."}, {"Retry-After": str(int(fault[1]))}
            return 503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}, {}
        signed = path in ("/api/v3/order", "/api/v3/order/test", "/api/v3/openOrders", "/api/v3/account",
                          "/api/v3/myTrades", "/api/v3/allOrders")
        if signed:
            self._check_signature(query, body, headers)
        with self.lock:
            if path == "/api/v3/time":
                return 200, {"serverTime": int(time.time() * 1000)}, {}
            if path == "/api/v3/ping":
                return 200, {}, {}
            if path == "/api/v3/exchangeInfo":
                return 200, self._exchange_info(), {}
            if path == "/api/v3/order/test" and method == "POST":
                self._validate_only(params)
                return 200, {}, {}
            if path == "/api/v3/order" and method == "POST":
                out = self._new_order(params)
                if fault is not None and fault[0] == "hide_fill":
                    out = {**out, "status": "NEW", "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000",
                           "fills": []}
                if fault is not None and fault[0] == "accept_then_hang":
                    return -1, out, {}
                return 200, out, {}
            if path == "/api/v3/order" and method == "GET":
                return 200, self._find(params).view(), {}
            if path == "/api/v3/order" and method == "DELETE":
                return 200, self._cancel(self._find(params)), {}
            if path == "/api/v3/openOrders" and method == "GET":
                sym = params.get("symbol")
                return 200, [o.view() for o in self.open_orders() if sym is None or o.symbol == sym], {}
            if path == "/api/v3/openOrders" and method == "DELETE":
                sym = params.get("symbol")
                out = [self._cancel(o) for o in self.open_orders() if o.symbol == sym]
                if not out:
                    raise VenueError(400, -2011, "Unknown order sent.")
                return 200, out, {}
            if path == "/api/v3/account":
                return 200, {"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": False,
                             "canDeposit": False, "accountType": "SPOT", "permissions": ["SPOT"],
                             "updateTime": int(time.time() * 1000),
                             "balances": [{"asset": a, "free": f"{v - self._locked(a):.8f}",
                                           "locked": f"{self._locked(a):.8f}"} for a, v in self.balances.items()]}, {}
            if path == "/api/v3/myTrades":  # orderId: that order's trades only
                sym, oid = params.get("symbol"), params.get("orderId")
                return 200, [t for t in self.trades if t["symbol"] == sym and
                             (oid is None or t["orderId"] == int(oid))], {}
        raise VenueError(404, -1000, f"unknown endpoint {method} {path}")

    def _locked(self, asset: str) -> float:
        out = 0.0
        for o in self.open_orders():
            m = self.markets[o.symbol]
            if m.linear:
                continue
            if o.side == "BUY" and asset == m.quote:
                out += (o.qty - o.executed) * o.price
            elif o.side == "SELL" and asset == m.base:
                out += o.qty - o.executed
        return out

    def _validate_only(self, p: dict[str, str]) -> None:
        """order/test: the checks of a new order, nothing placed."""
        saved = (dict(self.orders), dict(self.balances), list(self.trades),
                 {s: (list(m.bids), list(m.asks)) for s, m in self.markets.items()})
        try:
            self._new_order(p)
        finally:
            self.orders, self.balances, self.trades = saved[0], saved[1], saved[2]
            for s, (b, a) in saved[3].items():
                self.markets[s].bids, self.markets[s].asks = b, a

    def _check_signature(self, query: str, body: str, headers: dict[str, str]) -> None:
        key = headers.get("x-mbx-apikey")
        if key != self.api_key:
            raise VenueError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        total = query + body
        if "&signature=" not in total:
            raise VenueError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, "
                                          "or malformed.")
        payload, _, sig = total.rpartition("&signature=")
        want = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            raise VenueError(400, -1022, "Signature for this request is not valid.")
        p = dict(parse_qsl(payload))
        ts, window = int(p.get("timestamp", "0")), int(p.get("recvWindow", self.recv_window_ms))
        now = int(time.time() * 1000)
        if ts > now + 1000 or now - ts > window:
            raise VenueError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _exchange_info(self) -> dict[str, Any]:
        syms = []
        for m in self.markets.values():
            syms.append({
                "symbol": m.symbol, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
                "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": False, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False, "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": f"{m.tick:.8f}", "maxPrice": "1000000.00000000",
                     "tickSize": f"{m.tick:.8f}"},
                    {"filterType": "LOT_SIZE", "minQty": f"{m.step:.8f}", "maxQty": "9000.00000000",
                     "stepSize": f"{m.step:.8f}"},
                    {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5}]})
        return {"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [], "exchangeFilters": [],
                "symbols": syms}

    def serve(self) -> str:
        """Start the HTTP server on a free local port (a daemon thread); returns its base URL."""
        venue = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                url = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                headers = {k.lower(): v for k, v in self.headers.items()}
                extra: dict[str, str] = {}
                try:
                    status, out, extra = venue.handle(self.command, url.path, url.query, body, headers)
                except VenueError as e:
                    status, out, extra = e.http, {"code": e.code, "msg": e.msg}, e.headers
                if status == -1:  # accepted, never answered: hold the connection until the server stops
                    gone = threading.Event()
                    venue.hung.append(gone)
                    gone.wait(60)
                    self.close_connection = True
                    return
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        for e in self.hung:
            e.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class BybitImitation(BinanceImitation):
    """Bybit's v5 REST API (https://bybit-exchange.github.io/docs/v5/intro) over the same
    matching engine, as a unified trading account's spot market: signed requests carry
    `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-RECV-WINDOW` and `X-BAPI-SIGN`, the HMAC-SHA256
    of timestamp + key + recv window + the query string (GET) or the JSON body (POST); answers
    are `{"retCode", "retMsg", "result", "time"}`, with Bybit's codes (10004 signature, 10006
    rate limit with `X-Bapi-Limit-Reset-Timestamp`, 110072 duplicate orderLinkId, 170131
    insufficient balance, 110001 order not found)."""

    _CODES = {-2010: 110007, -2013: 110001, -2011: 110001, -1013: 170136, -1121: 10001, -1102: 10001,
              -1022: 10004, -2015: 10003, -1021: 10002, -4118: 110017}
    _STATUS = {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled", "CANCELED": "Cancelled",
               "EXPIRED": "Cancelled", "REJECTED": "Rejected"}

    def _bybit_order(self, o: ImOrder) -> dict[str, Any]:
        status = self._STATUS[o.status]
        if status == "Cancelled" and o.executed > 0:
            status = "PartiallyFilledCanceled"
        fee = sum(float(t["commission"]) for t in self.trades if t["orderId"] == o.order_id)
        return {"orderId": str(o.order_id), "orderLinkId": o.client_id, "blockTradeId": "",
                "symbol": o.symbol.removesuffix(".P"),
                "price": f"{o.price:.8f}" if o.type != "MARKET" else "0", "qty": f"{o.qty:.8f}",
                "side": "Buy" if o.side == "BUY" else "Sell", "isLeverage": "0", "positionIdx": 0,
                "reduceOnly": o.reduce_only,
                "orderStatus": status, "cancelType": "UNKNOWN", "rejectReason": "EC_NoError",
                "avgPrice": f"{o.quote / o.executed:.8f}" if o.executed else "", "leavesQty": f"{o.qty - o.executed:.8f}",
                "leavesValue": "0", "cumExecQty": f"{o.executed:.8f}", "cumExecValue": f"{o.quote:.8f}",
                "cumExecFee": f"{fee:.8f}", "timeInForce": "IOC" if o.type == "MARKET" else o.tif,
                "orderType": "Market" if o.type == "MARKET" else "Limit", "stopOrderType": "", "orderIv": "",
                "triggerPrice": "0", "takeProfit": "0", "stopLoss": "0", "tpTriggerBy": "", "slTriggerBy": "",
                "triggerDirection": 0, "triggerBy": "", "lastPriceOnCreated": "",
                "closeOnTrigger": False, "smpType": "None", "smpGroup": 0, "smpOrderId": "", "tpslMode": "",
                "tpLimitPrice": "", "slLimitPrice": "", "placeType": "", "createdTime": str(o.time_ms),
                "updatedTime": str(o.time_ms)}

    def handle(self, method: str, path: str, query: str, body: str, headers: dict[str, str]) -> tuple[int, Any, dict]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        data = json.loads(body) if body else {}
        with self.lock:
            self.requests.append((method, path, {**params, **{k: str(v) for k, v in data.items()}}))
            queue = self.faults.get(f"{method} {path}")
            fault = queue.pop(0) if queue else None
            if fault is not None and fault[0] != "ok":
                self.served[fault[0]] = self.served.get(fault[0], 0) + 1
        now = int(time.time() * 1000)
        category = params.get("category") or data.get("category") or "spot"

        def key(symbol: Any) -> str | None:  # a perpetual and the spot market share Bybit's name
            return None if symbol is None else f"{symbol}.P" if category == "linear" else str(symbol)

        def ok(result: Any, extra: dict | None = None) -> tuple[int, Any, dict]:
            return 200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}, extra or {}

        if fault is not None and fault[0] == "429":  # Bybit: HTTP 200, retCode 10006, the reset time in a header
            return 200, {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": now}, \
                {"X-Bapi-Limit-Reset-Timestamp": str(now + int(fault[1] * 1000))}
        if fault is not None and fault[0] == "503":
            return 503, {"retCode": 10016, "retMsg": "Internal server error.", "result": {}, "time": now}, {}
        try:
            if path.startswith("/v5/") and not path.startswith("/v5/market/"):
                self._check_bybit_signature(method, query, body, headers)
            with self.lock:
                if path == "/v5/market/time":
                    return ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})
                if path == "/v5/market/instruments-info":  # one page: a cursor asks for the next, empty
                    rows = [] if params.get("cursor") or params.get("status") == "PreLaunch" else \
                        [self._instrument(m) for m in self.markets.values()
                         if m.linear == (category == "linear") and category in ("spot", "linear")]
                    return ok({"category": category, "nextPageCursor": "", "list": rows})
                if path == "/v5/asset/coin/query-info":
                    return ok({"rows": []})
                if path == "/v5/order/create" and method == "POST":
                    if category not in ("spot", "linear"):
                        raise VenueError(400, -1121, "category spot or linear here")
                    typ = {"Market": "MARKET", "Limit": "LIMIT"}.get(str(data.get("orderType")), "")
                    if typ == "LIMIT" and data.get("timeInForce") == "PostOnly":
                        typ = "LIMIT_MAKER"
                    if any(o.client_id == data.get("orderLinkId") for o in self.orders.values()):
                        # Bybit refuses a repeated orderLinkId whatever its order's state
                        return 200, {"retCode": 110072, "retMsg": "OrderLinkedID is duplicate", "result": {},
                                     "retExtInfo": {}, "time": now}, {}
                    out = self._new_order({"symbol": str(key(data.get("symbol"))),
                                           "side": str(data.get("side", "")).upper(),
                                           "reduceOnly": "true" if data.get("reduceOnly") else "false",
                                           "type": typ, "quantity": str(data.get("qty", "")),
                                           **({"price": str(data["price"])} if "price" in data else {}),
                                           "timeInForce": "IOC" if data.get("timeInForce") == "IOC" else "GTC",
                                           "newClientOrderId": str(data.get("orderLinkId") or "")})
                    if fault is not None and fault[0] == "accept_then_hang":
                        return -1, {}, {}
                    return ok({"orderId": str(out["orderId"]), "orderLinkId": out["clientOrderId"]})
                if path == "/v5/order/cancel" and method == "POST":
                    o = self._find_bybit(data)
                    self._cancel(o)
                    return ok({"orderId": str(o.order_id), "orderLinkId": o.client_id})
                if path == "/v5/order/realtime":  # openOnly 0 (default): open orders only; 1: recent closed
                    sym, closed = key(params.get("symbol")), params.get("openOnly", "0") == "1"
                    found = [o for o in self.orders.values() if (sym is None or o.symbol == sym)
                             and (params.get("orderLinkId") in (None, o.client_id))
                             and (params.get("orderId") in (None, str(o.order_id)))
                             and (o.status in ("NEW", "PARTIALLY_FILLED")) != closed]
                    return ok({"category": "spot", "nextPageCursor": "", "list": [self._bybit_order(o) for o in found]})
                if path == "/v5/order/history":
                    sym = key(params.get("symbol"))
                    found = [o for o in self.orders.values() if (sym is None or o.symbol == sym)
                             and params.get("orderLinkId") in (None, o.client_id)
                             and params.get("orderId") in (None, str(o.order_id))]
                    return ok({"category": "spot", "nextPageCursor": "", "list": [self._bybit_order(o) for o in found]})
                if path == "/v5/position/list":
                    sym = key(params.get("symbol"))
                    rows = []
                    for name, (size, avg) in self.positions.items():
                        if sym in (None, name) and size:
                            rows.append({"positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000",
                                         "symbol": name.removesuffix(".P"), "side": "Buy" if size > 0 else "Sell",
                                         "size": f"{abs(size):.8f}", "avgPrice": f"{avg:.8f}",
                                         "positionValue": f"{abs(size) * avg:.8f}", "tradeMode": 0,
                                         "positionStatus": "Normal", "autoAddMargin": 0, "adlRankIndicator": 2,
                                         "leverage": "1", "positionBalance": "0", "markPrice": f"{avg:.8f}",
                                         "liqPrice": "", "bustPrice": "", "positionMM": "0", "positionIM": "0",
                                         "tpslMode": "Full", "takeProfit": "0", "stopLoss": "0",
                                         "trailingStop": "0", "unrealisedPnl": "0", "curRealisedPnl": "0",
                                         "cumRealisedPnl": "0", "seq": 1, "isReduceOnly": False,
                                         "createdTime": str(now), "updatedTime": str(now)})
                    return ok({"category": "linear", "nextPageCursor": "", "list": rows})
                if path == "/v5/execution/list":
                    oid, sym = params.get("orderId"), key(params.get("symbol"))
                    rows = []
                    for t in self.trades:
                        if (oid is None or str(t["orderId"]) == oid) and t["symbol"] == (sym or t["symbol"]):
                            o = self.orders[t["orderId"]]
                            rows.append({"symbol": t["symbol"].removesuffix(".P"), "orderId": str(t["orderId"]),
                                         "orderLinkId": o.client_id,
                                         "side": "Buy" if o.side == "BUY" else "Sell", "orderPrice": f"{o.price:.8f}",
                                         "orderQty": f"{o.qty:.8f}", "leavesQty": "0", "orderType": "Market" if
                                         o.type == "MARKET" else "Limit", "stopOrderType": "", "execFee": t["commission"],
                                         "feeCurrency": t["commissionAsset"], "execId": str(t["id"]),
                                         "execPrice": t["price"], "execQty": t["qty"], "execType": "Trade",
                                         "execValue": t["quoteQty"], "execTime": str(t["time"]),
                                         "isMaker": t["isMaker"], "feeRate": str(FEE_RATE), "markPrice": "",
                                         "indexPrice": "", "underlyingPrice": "", "blockTradeId": "",
                                         "closedSize": "", "seq": t["id"]})
                    return ok({"category": "spot", "nextPageCursor": "", "list": rows})
                if path == "/v5/account/wallet-balance":
                    coins = [{"coin": a, "equity": f"{v:.8f}", "walletBalance": f"{v:.8f}",
                              "locked": f"{self._locked(a):.8f}", "free": f"{v - self._locked(a):.8f}",
                              "availableToWithdraw": f"{v - self._locked(a):.8f}", "usdValue": "0",
                              "unrealisedPnl": "0", "cumRealisedPnl": "0", "borrowAmount": "0",
                              "accruedInterest": "0", "totalOrderIM": "0", "totalPositionIM": "0",
                              "totalPositionMM": "0", "bonus": "0", "collateralSwitch": True,
                              "marginCollateral": True} for a, v in self.balances.items()]
                    return ok({"list": [{"accountType": "UNIFIED", "totalEquity": "0", "accountIMRate": "0",
                                         "accountMMRate": "0", "totalWalletBalance": "0", "totalAvailableBalance": "0",
                                         "totalPerpUPL": "0", "totalInitialMargin": "0", "totalMaintenanceMargin": "0",
                                         "coin": coins}]})
            raise VenueError(404, -1000, f"unknown endpoint {method} {path}")
        except VenueError as e:
            code = self._CODES.get(e.code, 10001)
            if e.msg.startswith("Account has insufficient balance"):
                code = 170131
            return 200, {"retCode": code, "retMsg": e.msg, "result": {}, "retExtInfo": {}, "time": now}, {}

    def _find_bybit(self, data: dict[str, Any]) -> ImOrder:
        sym = f"{data.get('symbol')}.P" if data.get("category") == "linear" else data.get("symbol")
        found = [o for o in self.orders.values() if o.symbol == sym and
                 (o.client_id == data.get("orderLinkId") or str(o.order_id) == str(data.get("orderId")))]
        if not found:
            raise VenueError(400, -2013, "Order does not exist.")
        return found[-1]

    def _check_bybit_signature(self, method: str, query: str, body: str, headers: dict[str, str]) -> None:
        if headers.get("x-bapi-api-key") != self.api_key:
            raise VenueError(401, -2015, "API key is invalid.")
        ts, window = headers.get("x-bapi-timestamp", "0"), headers.get("x-bapi-recv-window", "5000")
        payload = ts + self.api_key + window + (body if method == "POST" else query)
        want = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, headers.get("x-bapi-sign", "")):
            raise VenueError(401, -1022, "error sign! origin_string[...]")
        now = int(time.time() * 1000)
        if int(ts) > now + 1000 or now - int(ts) > int(window):
            raise VenueError(400, -1021, "invalid request, please check your server timestamp or recv_window param")

    def _instrument(self, m: Market) -> dict[str, Any]:
        if m.linear:
            step = f"{m.step:.8f}".rstrip("0")
            return {"symbol": m.symbol.removesuffix(".P"), "contractType": "LinearPerpetual", "status": "Trading",
                    "baseCoin": m.base, "quoteCoin": m.quote, "settleCoin": m.quote, "launchTime": "1585526400000",
                    "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "2",
                    "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                    "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80",
                                    "tickSize": f"{m.tick:.8f}".rstrip("0")},
                    "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": step, "qtyStep": step,
                                      "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000",
                                      "minNotionalValue": "5"},
                    "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both",
                    "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375", "isPreListing": False}
        return {"symbol": m.symbol, "baseCoin": m.base, "quoteCoin": m.quote, "innovation": "0", "status": "Trading",
                "marginTrading": "none", "stTag": "0",
                "lotSizeFilter": {"basePrecision": f"{m.step:.8f}".rstrip("0"), "quotePrecision": "0.00000001",
                                  "minOrderQty": f"{m.step:.8f}".rstrip("0"), "maxOrderQty": "9000",
                                  "minOrderAmt": "1", "maxOrderAmt": "9000000"},
                "priceFilter": {"tickSize": f"{m.tick:.8f}".rstrip("0")},
                "riskParameters": {"limitParameter": "0.05", "marketParameter": "0.05"}}


class OkxImitation(BinanceImitation):
    """OKX's v5 REST API (https://www.okx.com/docs-v5/en/) in demo trading, over the same
    engine, as a spot (cash) account: signed requests carry `OK-ACCESS-KEY`,
    `OK-ACCESS-PASSPHRASE`, `OK-ACCESS-TIMESTAMP` (ISO 8601) and `OK-ACCESS-SIGN`, the base64
    HMAC-SHA256 of timestamp + method + request path (and query) + body; demo keys work only
    with `x-simulated-trading: 1` (50101 otherwise). Answers are `{"code", "msg", "data"}`; an
    order's own outcome is in `data[i].sCode` (51016 duplicated clOrdId, 51008 insufficient
    balance, 51603 not found, 51400 nothing to cancel); 50011 with HTTP 429 when too frequent.
    Fees are negative numbers, as OKX reports them."""

    _CODES = {-2010: "51000", -2013: "51603", -2011: "51400", -1013: "51000", -1121: "51001", -1102: "51000",
              -1022: "50113", -2015: "50111", -1021: "50102"}
    _STATE = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled",
              "EXPIRED": "canceled", "REJECTED": "canceled"}

    def __init__(self, api_key: str, secret: str, passphrase: str, **kw: Any) -> None:
        super().__init__(api_key, secret, **kw)
        self.passphrase = passphrase

    @staticmethod
    def _inst(symbol: str, m: Market) -> str:
        return f"{m.base}-{m.quote}"

    def _market_of(self, inst: str | None) -> Market:
        for m in self.markets.values():
            if self._inst(m.symbol, m) == inst:
                return m
        raise VenueError(400, -1121, f"Instrument ID {inst} does not exist.")

    def _okx_order(self, o: ImOrder) -> dict[str, Any]:
        m = self.markets[o.symbol]
        trades = [t for t in self.trades if t["orderId"] == o.order_id]
        fee = sum(float(t["commission"]) for t in trades)
        fee_ccy = trades[0]["commissionAsset"] if trades else (m.base if o.side == "BUY" else m.quote)
        last = trades[-1] if trades else None
        return {"instType": "SPOT", "instId": self._inst(o.symbol, m), "ccy": "", "ordId": str(o.order_id),
                "clOrdId": o.client_id, "tag": "", "px": f"{o.price:.8f}" if o.type != "MARKET" else "",
                "sz": f"{o.qty:.8f}", "pnl": "0", "ordType": {"MARKET": "market", "LIMIT": "limit" if o.tif != "IOC"
                                                               else "ioc", "LIMIT_MAKER": "post_only"}[o.type],
                "side": o.side.lower(), "posSide": "net", "tdMode": "cash", "accFillSz": f"{o.executed:.8f}",
                "fillPx": last["price"] if last else "", "tradeId": str(last["id"]) if last else "",
                "fillSz": last["qty"] if last else "0", "fillTime": str(last["time"]) if last else "",
                "avgPx": f"{o.quote / o.executed:.8f}" if o.executed else "", "state": self._STATE[o.status],
                "lever": "", "feeCcy": fee_ccy, "fee": f"{-fee:.8f}", "rebateCcy": fee_ccy, "rebate": "0",
                "tgtCcy": "", "category": "normal", "reduceOnly": "false", "cancelSource": "",
                "uTime": str(o.time_ms), "cTime": str(o.time_ms)}

    def handle(self, method: str, path: str, query: str, body: str, headers: dict[str, str]) -> tuple[int, Any, dict]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        data = json.loads(body) if body else {}
        with self.lock:
            first = data[0] if isinstance(data, list) and data else data if isinstance(data, dict) else {}
            self.requests.append((method, path, {**params, **{k: str(v) for k, v in first.items()}}))
            queue = self.faults.get(f"{method} {path}")
            fault = queue.pop(0) if queue else None
            if fault is not None and fault[0] != "ok":
                self.served[fault[0]] = self.served.get(fault[0], 0) + 1

        def ok(rows: list[Any]) -> tuple[int, Any, dict]:
            return 200, {"code": "0", "msg": "", "data": rows}, {}

        if fault is not None and fault[0] == "429":
            return 429, {"code": "50011", "msg": "Too Many Requests", "data": []}, {"Retry-After": str(int(fault[1]))}
        if fault is not None and fault[0] == "503":
            return 503, {"code": "50001", "msg": "Service temporarily unavailable. Please try again later.",
                         "data": []}, {}
        try:
            if not path.startswith("/api/v5/public/"):
                self._check_okx_signature(method, path, query, body, headers)
            with self.lock:
                if path == "/api/v5/public/time":
                    return ok([{"ts": str(int(time.time() * 1000))}])
                if path == "/api/v5/public/instruments":
                    return ok([self._okx_instrument(m) for m in self.markets.values()]
                              if params.get("instType") == "SPOT" else [])
                if path == "/api/v5/trade/batch-orders" and method == "POST":  # ccxt's way to place one
                    answers = [self._place_okx(d, fault) for d in data]
                    if any(a is None for a in answers):
                        return -1, {}, {}
                    failed = [a for a in answers if a["sCode"] != "0"]
                    code = "0" if not failed else "1" if len(failed) == len(answers) else "2"
                    return 200, {"code": code, "msg": "" if code == "0" else "All operations failed",
                                 "data": answers}, {}
                if path == "/api/v5/trade/order" and method == "POST":
                    a = self._place_okx(data, fault)
                    if a is None:
                        return -1, {}, {}
                    return 200, {"code": "0" if a["sCode"] == "0" else "1",
                                 "msg": "" if a["sCode"] == "0" else "All operations failed", "data": [a]}, {}
                if path == "/api/v5/trade/order" and method == "GET":
                    m = self._market_of(params.get("instId"))
                    found = [o for o in self.orders.values() if o.symbol == m.symbol and
                             (o.client_id == params.get("clOrdId") or str(o.order_id) == params.get("ordId"))]
                    if not found:
                        raise VenueError(400, -2013, "Order does not exist")
                    return ok([self._okx_order(found[-1])])
                if path == "/api/v5/trade/cancel-order" and method == "POST":
                    m = self._market_of(data.get("instId"))
                    found = [o for o in self.orders.values() if o.symbol == m.symbol and
                             (o.client_id == data.get("clOrdId") or str(o.order_id) == data.get("ordId"))]
                    if not found or found[-1].status not in ("NEW", "PARTIALLY_FILLED"):
                        return 200, {"code": "1", "msg": "All operations failed", "data": [
                            {"clOrdId": data.get("clOrdId", ""), "ordId": "", "sCode": "51400",
                             "sMsg": "Cancellation failed as the order has been filled, canceled or does not exist"}]}, {}
                    self._cancel(found[-1])
                    return ok([{"clOrdId": found[-1].client_id, "ordId": str(found[-1].order_id), "sCode": "0",
                                "sMsg": ""}])
                if path == "/api/v5/trade/orders-pending":
                    inst = params.get("instId")
                    return ok([self._okx_order(o) for o in self.open_orders()
                               if inst is None or self._inst(o.symbol, self.markets[o.symbol]) == inst])
                if path in ("/api/v5/trade/fills", "/api/v5/trade/fills-history"):
                    rows = []
                    for t in self.trades:
                        o = self.orders[t["orderId"]]
                        if params.get("ordId") not in (None, str(o.order_id)):
                            continue
                        rows.append({"instType": "SPOT", "instId": self._inst(o.symbol, self.markets[o.symbol]),
                                     "tradeId": str(t["id"]), "ordId": str(o.order_id), "clOrdId": o.client_id,
                                     "billId": str(t["id"]), "tag": "", "fillPx": t["price"], "fillSz": t["qty"],
                                     "side": o.side.lower(), "posSide": "net", "execType": "M" if t["isMaker"] else "T",
                                     "feeCcy": t["commissionAsset"], "fee": f"{-float(t['commission']):.8f}",
                                     "ts": str(t["time"]), "fillTime": str(t["time"])})
                    return ok(rows)
                if path == "/api/v5/account/balance":
                    return ok([{"totalEq": "0", "uTime": str(int(time.time() * 1000)), "details": [
                        {"ccy": a, "eq": f"{v:.8f}", "cashBal": f"{v:.8f}", "availBal": f"{v - self._locked(a):.8f}",
                         "frozenBal": f"{self._locked(a):.8f}", "ordFrozen": f"{self._locked(a):.8f}",
                         "availEq": f"{v - self._locked(a):.8f}", "uTime": str(int(time.time() * 1000))}
                        for a, v in self.balances.items()]}])
            raise VenueError(404, -1000, f"unknown endpoint {method} {path}")
        except VenueError as e:
            http = 401 if e.code in (-2015, -1022) else 400
            return http, {"code": self._CODES.get(e.code, "51000"), "msg": e.msg, "data": []}, {}

    def _place_okx(self, d: dict[str, Any], fault: tuple[str, float] | None) -> dict[str, Any] | None:
        """One order of a place request: its answer entry (None: taken, never answered)."""
        cid = str(d.get("clOrdId") or "")
        if any(o.client_id == cid for o in self.orders.values()):
            return {"clOrdId": cid, "ordId": "", "tag": "", "sCode": "51016", "sMsg": "Duplicated clOrdId"}
        typ = {"market": "MARKET", "limit": "LIMIT", "ioc": "LIMIT", "post_only": "LIMIT_MAKER"}.get(
            str(d.get("ordType")), "")
        try:
            m = self._market_of(d.get("instId"))
            out = self._new_order({"symbol": m.symbol, "side": str(d.get("side", "")).upper(), "type": typ,
                                   "quantity": str(d.get("sz", "")), **({"price": str(d["px"])} if d.get("px") else {}),
                                   "timeInForce": "IOC" if d.get("ordType") == "ioc" else "GTC",
                                   "newClientOrderId": cid})
        except VenueError as e:
            code = "51008" if e.msg.startswith("Account has insufficient") else self._CODES.get(e.code, "51000")
            return {"clOrdId": cid, "ordId": "", "tag": "", "sCode": code, "sMsg": e.msg}
        if fault is not None and fault[0] == "accept_then_hang":
            return None
        return {"clOrdId": cid, "ordId": str(out["orderId"]), "tag": "", "sCode": "0", "sMsg": "Order placed"}

    def _check_okx_signature(self, method: str, path: str, query: str, body: str, headers: dict[str, str]) -> None:
        if headers.get("ok-access-key") != self.api_key or headers.get("ok-access-passphrase") != self.passphrase:
            raise VenueError(401, -2015, "Invalid OK-ACCESS-KEY or passphrase")
        if headers.get("x-simulated-trading") != "1":
            raise VenueError(401, -2015, "APIKey does not match current environment.")
        ts = headers.get("ok-access-timestamp", "")
        payload = ts + method + path + (f"?{query}" if query else "") + body
        want = base64.b64encode(hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want, headers.get("ok-access-sign", "")):
            raise VenueError(401, -1022, "Invalid Sign")
        from datetime import datetime

        sent = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        if abs(time.time() - sent) > 30:
            raise VenueError(400, -1021, "Timestamp request expired")

    def _okx_instrument(self, m: Market) -> dict[str, Any]:
        return {"instType": "SPOT", "instId": self._inst(m.symbol, m), "uly": "", "instFamily": "", "baseCcy": m.base,
                "quoteCcy": m.quote, "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "optType": "",
                "stk": "", "listTime": "1606468572000", "expTime": "", "lever": "", "tickSz": f"{m.tick:g}",
                "lotSz": f"{m.step:.8f}".rstrip("0"), "minSz": f"{m.step:.8f}".rstrip("0"), "ctType": "",
                "alias": "", "state": "live", "ruleType": "normal", "maxLmtSz": "9999999999",
                "maxMktSz": "1000000", "maxLmtAmt": "20000000", "maxMktAmt": "1000000", "maxTwapSz": "",
                "maxIcebergSz": "", "maxTriggerSz": "", "maxStopSz": ""}
