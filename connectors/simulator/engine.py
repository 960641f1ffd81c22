"""A seeded, deterministic multi-venue market: one fair price per symbol, and per venue a book
that follows it with its own spread, depth, tick, update rate and latency.

The fair price is a log-random walk with a drifting trend, volatility bursts (a two-state
regime, in which market makers widen their spreads) and jumps. Each venue quotes around the
fair price times a small basis of its own (within its spread: books of one quote currency
cross only briefly, as arbitrage sees them). Markets quoted in USDT quote the fair price in
USDT: one shared, slowly moving USDT/USD rate apart from the USD markets, and a configured
rate market (`quote:` in symbols.yaml, e.g. coinbase USDT-USD) quotes that rate. Every
update moves its touch to the new quotes, adds and cancels random levels, and sometimes
trades against the touch. Frames are written in each venue's wire format by the
venue module's `SimWire`, stamped with `ts_recv` = exchange time + the venue's latency, and
come out merged in `ts_recv` order, exactly as a recorder would have stored them.
"""

from __future__ import annotations

import base64
import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from cobflow.config import SymbolsConfig
from cobflow.connectors import get_venue
from cobflow.connectors.simulator.book import Change, MarketSpec, SimBook
from cobflow.connectors.simulator.wire import Frame, SimTrade, SimWireBase
from cobflow.raw import RawMessage

NS = 1_000_000_000
MS = 1_000_000
DEFAULT_START_NS = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z

#: Typical prices, so ticks and buckets look like the real market's (others start at 100).
BASE_PRICES = {"BTC": 65_000.0, "ETH": 3_200.0, "SOL": 150.0, "BNB": 600.0, "XRP": 0.6, "DOGE": 0.15,
               "ADA": 0.45, "LTC": 80.0, "USDT": 1.0, "USDC": 1.0}


BASIS_SHARE = 0.4  # a venue's basis is at most this share of its half-spread


@dataclass(frozen=True, slots=True)
class VenueDynamics:
    interval_ms: float  # mean time between book updates
    fixed_interval: bool  # Binance pushes diffs every 100 ms exactly
    latency_ms: float  # exchange -> us
    jitter_ms: float
    half_spread_bps: float
    trades_per_s: float
    size_scale: float  # typical level size in quote currency / 1000


DYNAMICS = {
    "binance": VenueDynamics(100, True, 12, 3, 0.6, 4.0, 40),
    "coinbase": VenueDynamics(50, False, 8, 2, 1.0, 2.0, 25),
    "kraken": VenueDynamics(80, False, 15, 4, 1.5, 1.0, 15),
    "bitfinex": VenueDynamics(120, False, 20, 5, 2.0, 0.7, 10),
    "htx": VenueDynamics(100, False, 40, 8, 1.2, 1.0, 12),
    "okx": VenueDynamics(100, False, 30, 6, 0.8, 2.5, 30),
    "bybit": VenueDynamics(50, False, 25, 5, 0.8, 2.5, 30),
}


@dataclass
class SimConfig:
    seed: int = 1
    duration_s: float = 60.0
    start_ns: int = DEFAULT_START_NS
    rate_scale: float = 1.0  # update and trade rates multiplied by this (load tests)
    resnapshot_s: float | None = None  # a fresh snapshot every so often, as a reconnecting client gets
    alpha: float = 0.0  # the planted signal's strength (`FairPrice.signal`); 0: none, the same bytes as before
    # where the planted signal shows: "touch" (the aggressor mix and the sizes at the touch)
    # or "depth" (only the sizes of the levels added away from the touch: imbalance deeper
    # in the book, touch and trades as without a signal)
    signal: str = "touch"
    alpha_flip_s: float | None = None  # a regime change: the signal's sign reverses this many seconds in
    trend_every_s: float = 120.0  # a new latent trend every this many seconds on average
    # the price follows the latent trend this many seconds late, while the book shows it at
    # once (the planted signal leads the price): past returns then say little of the next ones
    lead_s: float = 0.0
    trend_scale: float = 1.0  # the latent trends' size; 0: a driftless random walk (nothing to predict)
    # each venue market's basis: None, within its spread (BASIS_SHARE of its half-spread); a
    # number: uniform within +- that many bps whatever the spread (3.0: before the change)
    basis_bps: float | None = None
    usdt_bps: float = 3.0  # the USDT/USD rate's spread around 1 (its standard deviation); 0: USDT = USD
    burst_spread: float = 3.0  # half-spreads are this many times wider in a volatility burst; 1: never


class FairPrice:
    """log-price random walk with a wandering trend, volatility bursts and jumps.

    It moves on a fixed 10 ms grid from its own random stream, so its path depends on the
    seed and the symbol only: every venue sees the same market whatever else is simulated.
    """

    STEP_NS = 10_000_000

    def __init__(self, price: float, rng: random.Random, t_ns: int, trend_scale: float = 1.0,
                 trend_every_s: float = 120.0, lead_s: float = 0.0) -> None:
        self.trend_scale = trend_scale
        self.trend_every_s = trend_every_s
        self.lead_ns = int(lead_s * NS)
        self.switches: list[tuple[int, float]] = [(t_ns, 0.0)]  # (from, trend): what the lagging price reads
        self.x = math.log(price)
        self.rng = rng
        self.t = t_ns
        self.sigma = 0.5 / math.sqrt(365 * 86400)  # 50% a year, per sqrt(second)
        self.burst = False
        self.trend = 0.0  # log-return per second
        self.price = price

    def signal(self) -> float:
        """The latent trend scaled to [-1, 1] (tanh of the trend in units of its own spread,
        whatever the trend scale): what `--alpha` lets the book and the trades show of the
        coming drift."""
        if not self.trend_scale:
            return 0.0
        return math.tanh(self.trend / (self.sigma * 0.3 * self.trend_scale))

    def at(self, t_ns: int) -> float:
        if t_ns < self.t + self.STEP_NS:
            return self.price
        rng, gauss, rand = self.rng, self.rng.gauss, self.rng.random
        dt = self.STEP_NS / NS
        sqrt_dt = math.sqrt(dt)
        x, trend, burst = self.x, self.trend, self.burst
        every, lead, switches = self.trend_every_s, self.lead_ns, self.switches
        while self.t + self.STEP_NS <= t_ns:
            self.t += self.STEP_NS
            if rand() < dt / (30 if burst else 300):  # enter / leave a burst
                burst = not burst
            if rand() < dt / every:  # a new trend every two minutes or so
                trend = gauss(0.0, self.sigma * 0.3) * self.trend_scale
                if lead:
                    switches.append((self.t + lead, trend))
            drift = trend
            if lead:  # the trend of `lead` ago moves the price now
                while len(switches) > 1 and switches[1][0] <= self.t:
                    switches.pop(0)
                drift = switches[0][1]
            x += drift * dt + self.sigma * (5.0 if burst else 1.0) * sqrt_dt * gauss(0.0, 1.0)
            if rand() < dt / 600:  # a jump every ten minutes or so, ~30 bps
                x += gauss(0.0, 0.003)
        self.x, self.trend, self.burst = x, trend, burst
        self.price = math.exp(x)
        del rng
        return self.price


class StableRate:
    """The USD value of one USDT: 1 + a deviation that reverts to 0 over about half an hour
    (standard deviation `bps`), on a one-second grid from its own random stream."""

    STEP_NS = NS
    REVERT_S = 1800.0

    def __init__(self, bps: float, rng: random.Random, t_ns: int) -> None:
        self.sd = bps / 1e4
        self.rng = rng
        self.t = t_ns
        self.dev = rng.gauss(0.0, self.sd) if self.sd else 0.0
        self.value = 1.0 + self.dev

    def at(self, t_ns: int) -> float:
        if not self.sd or t_ns < self.t + self.STEP_NS:
            return self.value
        keep, step = 1 - 1 / self.REVERT_S, self.sd * math.sqrt(2 / self.REVERT_S)
        while self.t + self.STEP_NS <= t_ns:
            self.t += self.STEP_NS
            self.dev = self.dev * keep + step * self.rng.gauss(0.0, 1.0)
        self.value = 1.0 + self.dev
        return self.value


class Quoted:
    """A venue market's fair price in its own quote currency: a symbol's fair price (in the
    symbol's quote) converted at the USDT rate where the two quotes differ, or, for a rate
    market (USDT-USD), the rate itself."""

    def __init__(self, fair: FairPrice | None, usdt: StableRate, symbol_quote: str, market: str) -> None:
        self.fair, self.usdt = fair, usdt
        base, _, quote = market.rpartition("-")
        self.num = symbol_quote if fair is not None else base  # what the price is worth in USD ...
        self.den = quote  # ... per unit of this
        self.plain = self.num == self.den or "USDT" not in (self.num, self.den) or not usdt.sd

    @property
    def burst(self) -> bool:
        return self.fair is not None and self.fair.burst

    def signal(self) -> float:
        return self.fair.signal() if self.fair is not None else 0.0

    def at(self, t_ns: int) -> float:
        price = self.fair.at(t_ns) if self.fair is not None else 1.0
        if self.plain:
            return price
        rate = self.usdt.at(t_ns)
        return price * rate if self.num == "USDT" else price / rate


class VenueMarket:
    """One venue's book for one market, moved by the fair price."""

    def __init__(self, spec: MarketSpec, dyn: VenueDynamics, rng: random.Random, basis: float) -> None:
        self.spec = spec
        self.dyn = dyn
        self.rng = rng
        self.basis = basis
        self.book = SimBook(spec)
        self.trade_id = rng.randrange(10**6, 10**9)
        self.mean_distance = 0.0  # price units between a level and the touch, on average

    def _size(self) -> float:
        return self._sizes[self.rng.getrandbits(10)]

    def _tilted(self, factor: float) -> float:
        q = 10 ** -self.spec.size_decimals
        return max(round(self._size() * min(1.9, max(0.1, factor)), self.spec.size_decimals), q)

    def _touch(self, fair: float, widen: float = 1.0) -> tuple[int, int]:
        ref = fair * (1 + self.basis)
        half = ref * self.dyn.half_spread_bps * widen / 1e4
        tick = self.spec.tick_size
        bid = math.floor((ref - half) / tick)
        ask = max(math.ceil((ref + half) / tick), bid + 1)
        return bid, ask

    def _distance(self) -> int:
        return int(self.rng.expovariate(1.0) * self._mean_ticks)

    def seed_book(self, fair: float) -> None:
        # Level sizes (lognormal, ~size_scale thousand quote units) are drawn once into a
        # table: the simulator's speed matters more than a fresh draw per level.
        scale = self.dyn.size_scale * 1000 / fair
        q = 10 ** -self.spec.size_decimals
        self._sizes = [max(round(self.rng.lognormvariate(0.0, 1.0) * scale, self.spec.size_decimals), q)
                       for _ in range(1024)]
        self._mean_ticks = fair * 12e-4 / self.spec.tick_size  # levels spread over tens of bps
        bid, ask = self._touch(fair)
        self.best_bid, self.best_ask = bid, ask
        n = self.spec.max_levels
        for side, levels in (("bid", self.book.bids), ("ask", self.book.asks)):
            levels[bid if side == "bid" else ask] = self._size()
            for _ in range(n * 4):
                if len(levels) >= n:
                    break
                d = self._distance()
                levels.setdefault(bid - d if side == "bid" else ask + d, self._size())

    def step(self, fair: float, dt_s: float, tilt: float = 0.0,
             widen: float = 1.0, depth: bool = False) -> tuple[list[Change], list[SimTrade]]:
        """Move the book to the fair price, its half-spread `widen` times the usual; return
        the changed levels and the trades.

        `tilt` (alpha x the fair price's signal, in [-alpha, alpha]) is the planted signal:
        takers buy with probability 0.5 + 0.2 x tilt, and the sizes put at the touch are
        scaled by 1 + 0.5 x tilt on the bid and 1 - 0.5 x tilt on the ask (clipped to
        [0.1, 1.9]). `depth`: the touch and the takers are left alone; the levels added away
        from the touch are sized 1 + 0.8 x tilt on the bid and 1 - 0.8 x tilt on the ask. With
        tilt 0 nothing changes, not even a random draw."""
        bids, asks, rng, spec = self.book.bids, self.book.asks, self.rng, self.spec
        touch_tilt, deep_tilt = (0.0, tilt) if depth else (tilt, 0.0)
        p_buy = 0.5 + 0.2 * touch_tilt
        old_bids: dict[int, float] = {}  # tick -> size before this step, for each touched level
        old_asks: dict[int, float] = {}

        trades: list[SimTrade] = []
        for _ in range(_poisson(rng, self.dyn.trades_per_s * dt_s)):
            buy = rng.random() < p_buy
            levels, old = (asks, old_asks) if buy else (bids, old_bids)
            if not levels:
                continue
            tick = self.best_ask if buy else self.best_bid  # the touch of the last step
            if tick not in levels:  # taken by an earlier trade of this step
                tick = min(levels) if buy else max(levels)
            size = round(min(levels[tick], self._size() * rng.random()), spec.size_decimals)
            if size <= 0:
                continue
            self.trade_id += 1
            trades.append(SimTrade("buy" if buy else "sell", tick, size, self.trade_id))
            old.setdefault(tick, levels[tick])
            left = round(levels[tick] - size, spec.size_decimals)
            if left > 0:
                levels[tick] = left
            else:
                del levels[tick]

        bid, ask = self._touch(fair, widen)
        # Levels beyond the new touch go (the market moved through them); only the ticks
        # between the old and the new touch can hold any.
        for levels, old, lo, hi in ((bids, old_bids, bid + 1, self.best_bid), (asks, old_asks, self.best_ask, ask - 1)):
            if hi >= lo:
                doomed = [t for t in levels if lo <= t <= hi] if hi - lo > len(levels) else \
                    [t for t in range(lo, hi + 1) if t in levels]
                for t in doomed:
                    old.setdefault(t, levels.pop(t))
        self.best_bid, self.best_ask = bid, ask
        if bid not in bids:
            old_bids.setdefault(bid, 0.0)
            bids[bid] = self._size() if not touch_tilt else self._tilted(1 + 0.5 * touch_tilt)
        if ask not in asks:
            old_asks.setdefault(ask, 0.0)
            asks[ask] = self._size() if not touch_tilt else self._tilted(1 - 0.5 * touch_tilt)
        for _ in range(1 + rng.getrandbits(2)):  # 1 to 4 random adds/cancels
            if rng.random() < 0.5:
                levels, old, tick, lean = bids, old_bids, bid - self._distance(), deep_tilt
            else:
                levels, old, tick, lean = asks, old_asks, ask + self._distance(), -deep_tilt
            old.setdefault(tick, levels.get(tick, 0.0))
            if tick in levels and rng.random() < 0.4:
                del levels[tick]  # a cancel
            else:
                levels[tick] = self._size() if not lean else self._tilted(1 + 0.8 * lean)
        cap = spec.max_levels
        while len(bids) > cap:
            t = min(bids)
            old_bids.setdefault(t, bids.pop(t))
        while len(asks) > cap:
            t = max(asks)
            old_asks.setdefault(t, asks.pop(t))

        changes: list[Change] = [("bid", t, bids.get(t, 0.0)) for t, was in old_bids.items()
                                 if bids.get(t, 0.0) != was]
        changes += [("ask", t, asks.get(t, 0.0)) for t, was in old_asks.items() if asks.get(t, 0.0) != was]
        # Removals first: a venue that sends one level per frame (Bitfinex) never shows a
        # crossed book between the frames of one update.
        changes.sort(key=lambda c: c[2] > 0)
        return changes, trades


def basis(rng: random.Random, basis_bps: float | None, half_spread_bps: float) -> float:
    """A venue market's basis (a fraction of the fair price), one draw of `rng`."""
    if basis_bps is None:
        return rng.uniform(-1.0, 1.0) * BASIS_SHARE * half_spread_bps / 1e4
    return rng.uniform(-basis_bps / 1e4, basis_bps / 1e4)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    k, p, limit = 0, rng.random(), math.exp(-lam)
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def market_spec(venue: str, market: str, wire: type[SimWireBase], price: float) -> MarketSpec:
    digits = wire.profile.tick_digits
    exp = math.floor(math.log10(price)) - digits
    return MarketSpec(
        venue=venue, market=market, wire_symbol=wire.wire_symbol(market), tick_size=10.0**exp,
        price_decimals=max(0, -exp), size_decimals=wire.profile.size_decimals, max_levels=wire.profile.max_levels,
    )


def base_price(symbol: str) -> float:
    return BASE_PRICES.get(symbol.split("-")[0].upper(), 100.0)


def simulate(symbols: SymbolsConfig, cfg: SimConfig, venues: list[str] | None = None) -> Iterator[RawMessage]:
    """Raw messages of the configured venue markets (all venues, or `venues`), in ts_recv
    order; messages received at the same nanosecond come in venue order."""
    start = cfg.start_ns
    if cfg.signal not in ("touch", "depth"):
        raise ValueError(f"signal {cfg.signal!r}: touch or depth")
    depth = cfg.signal == "depth"
    flip_at = None if cfg.alpha_flip_s is None else start + int(cfg.alpha_flip_s * NS)
    # An infinite duration runs until the consumer stops (a real-time feed into Kafka).
    end = start + int(cfg.duration_s * NS) if math.isfinite(cfg.duration_s) else 2**63 - 1
    # Every random stream is seeded by name: a venue's frames do not depend on which other
    # venues are simulated with it (so venues can be simulated in parallel and merged).
    fairs = {sym: FairPrice(base_price(sym), random.Random(f"{cfg.seed}:fair:{sym}"), start, cfg.trend_scale,
                            cfg.trend_every_s, cfg.lead_s)
             for sym in symbols.symbols}
    usdt = StableRate(cfg.usdt_bps, random.Random(f"{cfg.seed}:rate:USDT-USD"), start)

    by_venue: dict[str, dict[str, Quoted]] = {}  # venue -> market -> its fair price
    for sym, spec in symbols.symbols.items():
        for venue, market in spec.venues.items():
            if venues is None or venue in venues:
                by_venue.setdefault(venue, {})[market] = Quoted(fairs[sym], usdt, sym.rpartition("-")[2], market)
    for (venue, market) in symbols.readers():  # the rate markets (a symbol's market is one above)
        if (venues is None or venue in venues) and market not in by_venue.get(venue, {}):
            by_venue.setdefault(venue, {})[market] = Quoted(None, usdt, "", market)

    wires: dict[str, SimWireBase] = {}
    markets: dict[tuple[str, str], VenueMarket] = {}
    events: list[tuple[int, int, str, str, str]] = []  # (t, order, action, venue, market)
    order = 0
    for venue in sorted(by_venue):
        module = get_venue(venue)
        wire_type = getattr(module, "SimWire", None)
        if wire_type is None:
            raise ValueError(f"venue {venue!r} has no simulated feed (connectors.{venue}.SimWire)")
        dyn = DYNAMICS.get(venue, DYNAMICS["coinbase"])
        specs = {}
        for market, quoted in sorted(by_venue[venue].items()):
            specs[market] = market_spec(venue, market, wire_type, quoted.at(start))
        rng = random.Random(f"{cfg.seed}:{venue}")
        wires[venue] = wire_type(specs, rng)
        for market in sorted(specs):
            # a basis within 0.4 of the venue's half-spread: arbitrage keeps real venues' quotes
            # within their spreads, so two books cross only briefly (one quotes a move first)
            vm = VenueMarket(specs[market], dyn, random.Random(f"{cfg.seed}:{venue}:{market}"),
                             basis(rng, cfg.basis_bps, dyn.half_spread_bps))
            vm.seed_book(by_venue[venue][market].at(start))
            markets[(venue, market)] = vm
            first = start + int(rng.uniform(0.05, 0.3) * NS)
            heapq.heappush(events, (first, order, "update", venue, market))
            order += 1
            if wire_type.out_of_band_snapshot:  # requested after the first diffs are buffered
                heapq.heappush(events, (first + int(0.35 * NS), order, "snapshot", venue, market))
                order += 1
            if cfg.resnapshot_s:
                heapq.heappush(events, (start + int(cfg.resnapshot_s * NS), order, "resnapshot", venue, market))
                order += 1

    out: list[tuple[int, int, int, RawMessage]] = []  # (ts_recv, venue id, n, message)
    last_recv: dict[str, int] = {}
    min_latency = min(DYNAMICS.get(v, DYNAMICS["coinbase"]).latency_ms for v in wires) * MS
    n_out = 0

    def emit(venue: str, t: int, frames: list[Frame]) -> None:
        nonlocal n_out
        dyn = DYNAMICS.get(venue, DYNAMICS["coinbase"])
        rng = wires[venue].rng
        for f in frames:
            recv = t + int((dyn.latency_ms + rng.random() * dyn.jitter_ms) * MS)
            recv = max(recv, last_recv.get(venue, 0) + 1_000)  # one TCP stream: in order
            last_recv[venue] = recv
            if isinstance(f.payload, bytes):
                raw = RawMessage(recv, venue, f.kind, f.channel, f.market,
                                 base64.b64encode(f.payload).decode(), "base64-gzip")
            else:
                raw = RawMessage(recv, venue, f.kind, f.channel, f.market, f.payload)
            heapq.heappush(out, (recv, venue, n_out, raw))  # ties: by venue id
            n_out += 1

    for venue, wire in wires.items():
        emit(venue, start, wire.open(start))
        for (v, market), vm in markets.items():
            if v == venue:
                emit(venue, start, wire.subscribed(start, market, vm.book))

    while events:
        t, _, action, venue, market = heapq.heappop(events)
        if t >= end:
            break
        while out and out[0][0] <= t + min_latency:
            yield heapq.heappop(out)[3]
        vm = markets[(venue, market)]
        wire = wires[venue]
        if action == "snapshot":
            emit(venue, t, wire.snapshot(t, market, vm.book))
            continue
        if action == "resnapshot":
            frames = wire.snapshot(t, market, vm.book) if wire.out_of_band_snapshot else \
                wire.subscribed(t, market, vm.book)
            emit(venue, t, frames)
            heapq.heappush(events, (t + int(cfg.resnapshot_s * NS), order, "resnapshot", venue, market))
            order += 1
            continue
        dyn = vm.dyn
        interval = dyn.interval_ms / cfg.rate_scale
        dt = interval if dyn.fixed_interval else vm.rng.expovariate(1.0 / interval)
        price = by_venue[venue][market]
        fair = price.at(t)
        tilt = cfg.alpha * price.signal() if cfg.alpha else 0.0
        if flip_at is not None and t >= flip_at:
            tilt = -tilt
        changes, trades = vm.step(fair, dt / 1000 * cfg.rate_scale, tilt, cfg.burst_spread if price.burst else 1.0,
                                  depth)
        if trades:
            emit(venue, t, wire.trades(t, market, trades))
        if changes:
            emit(venue, t, wire.update(t, market, vm.book, changes))
        heapq.heappush(events, (t + max(int(dt * MS), 1), order, "update", venue, market))
        order += 1
    while out:
        yield heapq.heappop(out)[3]
