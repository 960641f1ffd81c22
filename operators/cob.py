"""The consolidated order book of one symbol across its venues, one second at a time
(METRICS.md): venue books kept in sync, seconds closed on a watermark across venues, and a
`CobSecond` record of each (summary, buckets, imbalance averages, bars, order flow, book
health, quality; the rows of those tables are made from it in the sinks).

`CobState` is plain Python (the file mode, the Kafka mode and the tests run the same
object); `cob_books` wraps it in a Bytewax stateful operator keyed by symbol, so every
venue of a symbol is on one worker and any number of workers gives the same records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from cobflow import native
from cobflow.config import QuoteRate, SymbolsConfig, converted_quote
from cobflow.connectors.base import BookSyncBase
from cobflow.deadletter import DeadLetter
from cobflow.events import Trade
from cobflow.execution.fills import BookTops, venue_levels
from cobflow.execution.orders import VenueTrades
from cobflow.metrics.cob import OFFSETS, BucketSize, ConvertedBook, VenueBook, consolidate
from cobflow.metrics.moving import WINDOWS, SecondsAverage
from cobflow.metrics.quality import STALE_AFTER_S, data_quality
from cobflow.metrics.signals import Signal, arbitrage
from cobflow.metrics.trades import OrderFlow
from cobflow.native import NativeVenueBook, bar_builder
from cobflow.operators.books import venue_book
from cobflow.operators.features import ALL_STORED, Stored, features
from cobflow.operators.parse import Parsed, apply_to_book, parse_batch
from cobflow.operators.state import snapshot, unstamp
from cobflow.operators.venue_book import MAX_FILL_SECONDS
from cobflow.raw import RawMessage
from cobflow.records import CobSecond, FeatureSecond, OpenBars, Quality, Seconds, VenueHealth

NS = 1_000_000_000
MA_OFFSETS = np.arange(-5, 6)


@dataclass
class VenueFeed:
    venue: str
    market: str
    sync: BookSyncBase | NativeVenueBook
    queue: deque = field(default_factory=deque)  # (ts_recv, n, item) waiting for their second
    last_ts: int | None = None
    applied_ts: int | None = None  # ts_recv of the newest message applied (freshness)
    convert: str | None = None  # the quote currency its prices convert from (None: as quoted)
    consolidated: bool = True  # False: a rate market's, read for its mid alone
    reports: bool = True  # its dead letters are this symbol's to emit (a shared rate market's: one reader's)

    @property
    def native(self) -> bool:
        """Raw frames wait in the queue unparsed and the native core reads them."""
        return isinstance(self.sync, NativeVenueBook)


class CobState:
    """One symbol: its venue feeds, the seconds emitted so far, the moving windows."""

    def __init__(self, symbol: str, venues: dict[str, str], bucket: BucketSize,
                 control_venues: frozenset[str] = frozenset(), stale_after_s: float = STALE_AFTER_S,
                 arb_notional: float | None = None, fee_bps: dict[str, float] | None = None,
                 book_notional: float | None = None, quote: dict[str, QuoteRate] | None = None,
                 rate_reports: frozenset[tuple[str, str]] | None = None) -> None:
        self.symbol = symbol
        self.book_notional = book_notional  # None: no BookTops for execution
        self.arb_notional = arb_notional  # None: no arbitrage signal
        self.fee_bps = fee_bps or {}
        self.bucket = bucket
        self.stale_after_ns = int(stale_after_s * NS)
        quote = quote or {}
        self.feeds = {v: VenueFeed(v, m, venue_book(v, m), convert=converted_quote(m, quote))
                      for v, m in sorted(venues.items())}
        # METRICS.md "Quote conversion": currency -> its rate now (None: none known yet), and
        # the feed of each rate read from a market's mid (a market of its own, not consolidated)
        self.rates: dict[str, float | None] = {c: r.rate for c, r in sorted(quote.items())}
        self.rate_labels = {c: r.label() for c, r in quote.items()}
        own = {(f.venue, f.market): f for f in self.feeds.values()}
        self.rate_feeds: dict[str, VenueFeed] = {}
        for currency, r in sorted(quote.items()):
            if r.venue_market is not None:
                v, m = r.venue_market
                # a rate market read by several symbols: one of them (`rate_reports`, default
                # this one) emits its dead letters, so each is written once
                self.rate_feeds[currency] = own.get((v, m)) or VenueFeed(
                    v, m, venue_book(v, m), consolidated=False,
                    reports=rate_reports is None or (v, m) in rate_reports)
        self.all_feeds = [*self.feeds.values(),
                          *{id(f): f for f in self.rate_feeds.values() if not f.consolidated}.values()]
        self.keys = {f"{f.venue}:{f.market}": f for f in self.all_feeds}  # parse_batch's keys -> feed
        # (venue, envelope symbol) of the frames queued raw for a native book
        self.native = {(f.venue, f.market): f for f in self.all_feeds if f.native}
        # venues whose frames without a market (and their dead letters) this symbol counts
        self.control_keys = {f"{v}:*": self.feeds[v] for v in control_venues}
        self.next_second: int | None = None
        self.ma = SecondsAverage()
        self.bars = bar_builder()
        self.flow = OrderFlow()
        self.n = 0  # arrival counter: ties on ts_recv keep arrival order within a venue

    # -- input ---------------------------------------------------------------------------
    def add(self, feed: VenueFeed, item: Parsed | DeadLetter | RawMessage) -> None:
        ts = item.ts_recv if type(item) is RawMessage else item.raw.ts_recv
        feed.queue.append((ts, self.n, item))
        self.n += 1
        feed.last_ts = ts if feed.last_ts is None else max(feed.last_ts, ts)

    def add_raw(self, raws: list[RawMessage]) -> None:
        """Queue a venue's frames routed here (`route_by_symbol`) and keep this symbol's:
        raw for a native book, parsed (in the same order) for the others."""
        native = self.native
        rest = [r for r in raws if (r.exchange, r.symbol) not in native]
        if not rest:
            self._queue_raw(raws)
            return
        parsed = parse_batch(rest)
        if len(rest) < len(raws):
            self._merge(raws, parsed)
            return
        for key, item in parsed:
            self._route(key, item)

    def _queue_raw(self, raws: list[RawMessage]) -> None:
        """`add` for frames that all go to native books, a venue's frames at a time (their
        arrival numbers keep each venue's order, all that breaks ties within a venue)."""
        native, by_feed = self.native, {}
        for raw in raws:
            feed = native[(raw.exchange, raw.symbol)]
            group = by_feed.get(id(feed))
            if group is None:
                group = by_feed[id(feed)] = (feed, [])
            group[1].append(raw)
        for feed, group in by_feed.values():
            n, ts = self.n, [r.ts_recv for r in group]
            feed.queue.extend(zip(ts, range(n, n + len(group)), group))
            self.n = n + len(group)
            newest = max(ts)
            feed.last_ts = newest if feed.last_ts is None or newest > feed.last_ts else feed.last_ts

    def _merge(self, raws: list[RawMessage], parsed: list[tuple[str, Parsed | DeadLetter]]) -> None:
        """Raw frames for native books and parsed ones for the others, in arrival order."""
        native, j = self.native, 0
        for raw in raws:
            feed = native.get((raw.exchange, raw.symbol))
            if feed is not None:
                self.add(feed, raw)
                continue
            while j < len(parsed) and parsed[j][1].raw is raw:
                self._route(*parsed[j])
                j += 1

    def _route(self, key: str, item: Parsed | DeadLetter) -> None:
        feed = self.keys.get(key)
        if feed is None:
            feed = self.control_keys.get(key)
            if feed is None or not isinstance(item, DeadLetter):
                return  # another symbol's market, or a frame this symbol's venues sent to all
        self.add(feed, item)

    def watermark(self, idle_ns: int | None = None) -> int | None:
        """ts_recv below which every venue has delivered all its messages (None: not yet).

        The slowest venue holds it back, and so does a configured venue not heard from yet.
        With `idle_ns` (live mode) a venue that far behind the newest message, or never
        heard from, no longer does: the idle timeout, or the lateness where one is set
        (FlowSettings.lateness_s).
        """
        seen = [f.last_ts for f in self.all_feeds if f.last_ts is not None]
        if not seen:
            return None
        if idle_ns is None:
            return None if len(seen) < len(self.all_feeds) else min(seen)
        newest = max(seen)
        return min(t for t in seen if newest - t <= idle_ns)

    # -- output ---------------------------------------------------------------------------
    def close(self, watermark: int | None, final: bool = False) -> tuple[list[CobSecond], list[DeadLetter]]:
        """Emit every second S with S + 1s <= watermark; `final`: every second with data."""
        out: list[CobSecond] = []
        dead: list[DeadLetter] = []
        heads = [f.queue[0][0] for f in self.all_feeds if f.queue]
        if self.next_second is None:
            if not heads:
                return out, dead
            self.next_second = min(heads) // NS
        if final:
            tails = [f.queue[-1][0] for f in self.all_feeds if f.queue]
            limit = max(tails) // NS + 1 if tails else self.next_second
        elif watermark is None:
            return out, dead
        else:
            limit = watermark // NS  # S + 1 <= watermark / 1s
        while self.next_second < limit:
            heads = [f.queue[0][0] for f in self.all_feeds if f.queue]
            if heads and min(heads) // NS - self.next_second > MAX_FILL_SECONDS:
                self.next_second = min(heads) // NS  # a long silence is not filled
            out.append(self._second(self.next_second, dead))
            self.next_second += 1
        return out, dead

    def open_bars(self) -> list[OpenBars]:
        """The bars still open (at the end of a finite input: stored, kept open, a resume
        completes them)."""
        still_open = self.bars.open_now()
        return [OpenBars(self.symbol, tuple(still_open))] if still_open else []

    def _second(self, s: int, dead: list[DeadLetter]) -> CobSecond:
        end = (s + 1) * NS
        trades: list[tuple[int, str, int, Trade]] = []
        for feed in self.all_feeds:
            q = feed.queue
            if feed.native:  # the second's frames in one call
                due = []
                while q and q[0][0] < end:
                    due.append(q.popleft())
                if due:
                    feed.applied_ts = max(feed.applied_ts or 0, max(d[0] for d in due))
                    item_trades, item_dead = feed.sync.apply([item for _, _, item in due])
                    if feed.reports:
                        dead.extend(item_dead)
                    venue = feed.venue  # ties on ts_recv across venues: by venue id (cobflow.venues)
                    if feed.consolidated:
                        trades.extend((due[j][0], venue, due[j][1], t) for j, t in item_trades)
                continue
            while q and q[0][0] < end:
                ts, n, item = q.popleft()
                feed.applied_ts = ts if feed.applied_ts is None or ts > feed.applied_ts else feed.applied_ts
                item_trades, item_dead = apply_to_book(feed.sync, item)
                if feed.reports:
                    dead.extend(item_dead)
                if feed.consolidated:
                    trades.extend((ts, feed.venue, n, t) for t in item_trades)
        self._rates_now()
        books = self._books()  # the second's books in the symbol's quote, made once
        trades.sort(key=lambda t: (t[0], t[1], t[2]))
        closed = self.bars.add_many([(ts, t.venue, t.price, t.size, t.side) for ts, _, _, t in trades])
        closed.extend(self.bars.close(s + 1))
        flows = self.flow.second(s, [b for b in closed if b.timeframe == "1s" and b.start_s == s])
        summary, buckets, mas, signals = self._book(s, books)
        return CobSecond(self.symbol, s, self._quality(s, len(books)), tuple(closed), tuple(flows), self._health(),
                         summary, buckets, mas, signals,
                         self._tops(s, books, trades) if self.book_notional is not None else None)

    def _rates_now(self) -> None:
        """Each market rate at the end of the second: its market's mid, or the last known."""
        for currency, feed in self.rate_feeds.items():
            if feed.sync.synced:
                book = feed.sync.book
                bid, ask = book.best_bid(), book.best_ask()
                if bid is not None and ask is not None:
                    self.rates[currency] = (bid[0] + ask[0]) / 2

    def _books(self) -> dict[str, VenueBook]:
        """The books consolidated this second: each synced venue's, in the symbol's quote
        (a market whose rate is not known yet is left out, as if unsynced)."""
        out: dict[str, VenueBook] = {}
        for f in self.feeds.values():
            if not f.sync.synced:
                continue
            if f.convert is None:
                out[f.venue] = f.sync.book
                continue
            rate = self.rates.get(f.convert)
            if rate is not None:
                out[f.venue] = ConvertedBook(f.sync.book, rate)
        return out

    def _venue_rates(self) -> dict[str, float]:
        return {f.venue: r for f in self.feeds.values()
                if f.convert is not None and (r := self.rates.get(f.convert)) is not None}

    def _tops(self, s: int, books: dict[str, VenueBook], trades: list[tuple[int, str, int, Trade]]) -> BookTops:
        """The levels of each synced book an order may walk at the end of second s (in the
        symbol's quote), for the execution step (EXECUTION.md: orders of S-1 fill against these),
        and each venue's trades of s (venue prices), which resting limit orders fill by."""
        notional = self.book_notional or 0.0
        by_venue: dict[str, list[Trade]] = {}
        for _, venue, _, t in trades:
            by_venue.setdefault(venue, []).append(t)
        venue_trades = {v: VenueTrades(np.fromiter((t.price for t in ts), float, len(ts)),
                                       np.fromiter((t.size for t in ts), float, len(ts)),
                                       np.fromiter((1 if t.side == "buy" else -1 for t in ts), np.int8, len(ts)))
                        for v, ts in by_venue.items()}
        levels = native.book_levels(list(books.values()), notional) or [venue_levels(*b.arrays(), notional)
                                                                          for b in books.values()]
        return BookTops(self.symbol, s, dict(zip(books, levels)), self._venue_rates(), venue_trades)

    def _quality(self, s: int, synced: int) -> Quality:
        """FEATURES.md "Data quality" for second s: `synced` venues (after its messages, with
        a rate where they convert) and venues heard from in [S + 1s - stale_after, S + 1s)."""
        fresh_from = (s + 1) * NS - self.stale_after_ns
        feeds = self.feeds.values()
        fresh = sum(1 for f in feeds if f.applied_ts is not None and f.applied_ts >= fresh_from)
        completeness, freshness, quality = data_quality(synced, fresh, len(self.feeds))
        return Quality(completeness, freshness, quality, synced, fresh, len(self.feeds))

    def _health(self) -> VenueHealth | None:
        """The health of each venue heard from (None: none yet)."""
        heard = [f for f in self.feeds.values() if f.last_ts is not None]
        if not heard:
            return None
        counts = [f.sync.health_counts() for f in heard]
        return VenueHealth(tuple(f.venue for f in heard), tuple(f.market for f in heard),
                           tuple(f.sync.synced for f in heard), {k: [c[k] for c in counts] for k in counts[0]})

    def _book(self, s: int, synced: dict[str, VenueBook]) -> tuple[dict | None, dict | None, dict | None,
                                                                    tuple[Signal, ...]]:
        """The consolidated book of second s: cob_summary's values, the buckets' and the
        imbalance MAs' arrays, and the arbitrage signal (METRICS.md)."""
        cob = consolidate(synced, self.bucket)
        if cob is None:
            return None, None, None, ()
        summary = {**self._rate_columns(),
            "venues": cob.venues, "best_bid": cob.best_bid, "best_ask": cob.best_ask, "mid": cob.mid,
            "microprice": cob.microprice, "spread_bps": cob.spread_bps, "crossed": cob.crossed,
            "bid_qty_total": cob.bid_qty_total, "ask_qty_total": cob.ask_qty_total,
            "liquidity_imbalance": cob.liquidity_imbalance if cob.mid is not None else None,
        }
        if cob.mid is None:
            summary.update({f"li_ma_{n}": None for n in WINDOWS})
            return summary, None, None, ()
        imb = cob.imbalance()
        vec = np.append(imb[20 - 5: 20 + 6], cob.liquidity_imbalance)
        mas = self.ma.add(s, vec)
        summary.update({f"li_ma_{n}": float(mas[n][-1]) for n in WINDOWS})
        signals: tuple[Signal, ...] = ()
        if self.arb_notional is not None and len(synced) > 1 and cob.mid > 0:
            arb = arbitrage(synced, self.arb_notional / cob.mid, self.fee_bps, cob.mid)
            if arb is not None:
                signals = (arb,)
        # the buckets and the imbalance MAs as arrays (NaN vwap: null)
        buckets = {"offset": OFFSETS, "price": cob.price, "bid_qty": cob.bid_qty, "ask_qty": cob.ask_qty,
                   "bid_notional": cob.bid_notional, "ask_notional": cob.ask_notional, "bid_vwap": cob.vwap("bid"),
                   "ask_vwap": cob.vwap("ask"), "imbalance": imb, "venues": cob.bucket_venues}
        ma = {"offset": MA_OFFSETS, **{f"ma_{n}": mas[n][:len(MA_OFFSETS)] for n in WINDOWS}}
        return summary, buckets, ma, signals

    def _rate_columns(self) -> dict:
        """cob_summary's `rate` (the one conversion's rate; null without one or with several)
        and `rates` (each currency's rate and where it came from), null without conversion."""
        if not self.rates:
            return {"rate": None, "rates": None}
        known = [(c, r) for c, r in self.rates.items() if r is not None]
        rate = known[0][1] if len(self.rates) == 1 and known else None
        text = ", ".join(f"{c}={r:.8g} {self.rate_labels[c]}" for c, r in known) or None
        return {"rate": rate, "rates": text}


def _one_item(records: list[CobSecond], dead: list[DeadLetter],
              open_bars: list[OpenBars] | None = None) -> list[Seconds[CobSecond]]:
    """A batch's seconds leave as one item: less work per record in Bytewax."""
    item = Seconds(records, dead, open_bars or ())
    return [item] if item else []


class CobLogic(StatefulBatchLogic):
    def __init__(self, state: CobState | None, symbols: SymbolsConfig, idle_timeout: float | None,
                 book_notional: float | None = None, lateness: float | None = None) -> None:
        self.state = state
        self.symbols = symbols
        self.book_notional = book_notional
        self.idle_ns = int(idle_timeout * NS) if idle_timeout else None
        # live: how far behind the newest message a venue may be and still hold a second open
        self.hold_ns = int(lateness * NS) if lateness and idle_timeout else self.idle_ns
        self.idle = timedelta(seconds=idle_timeout) if idle_timeout else None
        self.last_arrival: datetime | None = None

    def on_batch(self, values: list[tuple[str, list[RawMessage]]]) -> tuple[list, bool]:
        st = self.state
        for symbol, raws in values:
            if st is None:
                st = self.state = new_cob_state(self.symbols, symbol, self.book_notional)
            st.add_raw(raws)
        seconds, dead = st.close(st.watermark(self.hold_ns))
        self.last_arrival = datetime.now(UTC)
        return _one_item(seconds, dead), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list, bool]:
        if self.state is None:
            return [], StatefulBatchLogic.RETAIN
        seconds, dead = self.state.close(None, final=True)
        return _one_item(seconds, dead, self.state.open_bars()), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list, bool]:
        # live mode: wall-clock silence closes what the newest message allows
        st = self.state
        if st is None:
            return [], StatefulBatchLogic.RETAIN
        newest = max((f.last_ts for f in st.all_feeds if f.last_ts is not None), default=None)
        seconds, dead = st.close(newest)
        self.last_arrival = None  # all that silence can close is closed: the next message arms it again
        return _one_item(seconds, dead), StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        if self.idle is None or self.last_arrival is None:
            return None
        return self.last_arrival + self.idle

    def snapshot(self) -> tuple[int, CobState] | None:
        return snapshot(self.state)


def control_owners(symbols: SymbolsConfig) -> dict[str, str]:
    """venue -> the first configured symbol that reads it: frames without a market are sent
    to every symbol of their venue, and this one alone counts their dead letters."""
    owners: dict[str, str] = {}
    for symbol, spec in symbols.symbols.items():
        for venue in spec.venues:
            owners.setdefault(venue, symbol)
    return owners


def rate_reporters(symbols: SymbolsConfig) -> dict[tuple[str, str], str]:
    """(venue, market) of each rate market -> the one symbol that emits its dead letters: the
    symbol it is a venue market of, if any, else the first that converts with it."""
    own = {(v, m): sym for sym, spec in symbols.symbols.items() for v, m in spec.venues.items()}
    return {key: own.get(key, readers[0]) for key, readers in symbols.readers().items()}


def new_cob_state(symbols: SymbolsConfig, symbol: str, book_notional: float | None = None) -> CobState:
    spec = symbols.symbols[symbol]
    owned = frozenset(v for v, s in control_owners(symbols).items() if s == symbol)
    reports = frozenset(key for key, sym in rate_reporters(symbols).items() if sym == symbol)
    return CobState(symbol, spec.venues, spec.bucket, owned, spec.features.stale_after_s,
                    spec.strategy.arb_notional, {v: symbols.fee_bps(v) for v in spec.venues}, book_notional,
                    spec.quote, reports)


def route_by_symbol(symbols: SymbolsConfig, only: set[str] | None = None
                    ) -> Callable[[list[RawMessage]], list[tuple[str, tuple[str, list]]]]:
    """Raw messages -> (symbol, (symbol, [its raw messages])), one item per symbol per batch.

    A frame's `symbol` (CAPTURE.md: the canonical market) says which symbol parses it, so
    that each symbol's frames are parsed on its own worker and only raw text crosses between
    workers. A frame without a market (control frames, several markets at once) goes to
    every symbol of its venue; frames of markets no symbol follows are not read further.
    `only`: these symbols' frames alone (one worker's share of a cluster's input).
    """
    markets = symbols.readers()
    if only is not None:
        markets = {m: tuple(s for s in readers if s in only) for m, readers in markets.items()}
        markets = {m: readers for m, readers in markets.items() if readers}
    of_venue: dict[str, tuple[str, ...]] = {}
    for (venue, _), readers in markets.items():
        of_venue[venue] = (*of_venue.get(venue, ()), *(s for s in readers if s not in of_venue.get(venue, ())))

    def by_symbol(batch: list[RawMessage]) -> list[tuple[str, tuple[str, list]]]:
        groups: dict[str, list[RawMessage]] = {}
        for raw in batch:
            if raw.symbol is None:
                targets = of_venue.get(raw.exchange, ())
            else:
                targets = markets.get((raw.exchange, raw.symbol), ())
            for symbol in targets:
                group = groups.get(symbol)
                if group is None:
                    group = groups[symbol] = []
                group.append(raw)
        return [(symbol, (symbol, group)) for symbol, group in groups.items()]

    return by_symbol


def _values(batch: list[tuple[str, Seconds]]) -> list[Seconds]:
    return [x for _, x in batch]


@operator
def cob_keyed(step_id: str, up: Stream[RawMessage], symbols: SymbolsConfig,
              idle_timeout: float | None = None, with_features: bool = True,
              book_notional: float | None = None, lateness: float | None = None,
              stored: Stored = ALL_STORED, routed: bool = False
              ) -> Stream[tuple[str, Seconds[CobSecond] | Seconds[FeatureSecond]]]:
    """Raw messages -> (symbol, Seconds of CobSecond records and dead letters): parsing, the
    venue books and the seconds of one symbol all run on the worker that owns it.
    `with_features`: FeatureSecond records instead (cobflow.operators.features), on the same key.
    `book_notional`: each second also carries its BookTops for execution (never stored).
    `lateness` (live, with `idle_timeout`): a venue this far behind the symbol's newest message
    no longer holds a second open (FlowSettings.lateness_s). `routed`: `up` is already keyed
    as `route_by_symbol` keys it (a cluster's LocalCaptureSource)."""
    keyed = up if routed else op.flat_map_batch("by_symbol", up, route_by_symbol(symbols))
    out = op.stateful_batch("cob", keyed, lambda resume: CobLogic(unstamp(resume, step_id), symbols, idle_timeout,
                                                                  book_notional, lateness))
    return features("features", out, symbols, stored) if with_features else out


def unkey(step_id: str, keyed: Stream[tuple[str, Seconds]]) -> Stream[Seconds]:
    return op.flat_map_batch(step_id, keyed, _values)


@operator
def cob_books(step_id: str, up: Stream[RawMessage], symbols: SymbolsConfig,
              idle_timeout: float | None = None, with_features: bool = True,
              lateness: float | None = None, stored: Stored = ALL_STORED,
              routed: bool = False) -> Stream[Seconds[CobSecond] | Seconds[FeatureSecond]]:
    """Raw messages -> Seconds of CobSecond (with features: FeatureSecond) records and dead letters."""
    return unkey("unkey", cob_keyed("keyed", up, symbols, idle_timeout, with_features, lateness=lateness,
                                    stored=stored, routed=routed))
