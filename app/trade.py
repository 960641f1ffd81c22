"""`cobflow trade`: the gateway process. It reads the run's order intents (the strategy flow's
orders topic), carries them out at the venues (operators.gateway), and writes what the venues
said to the run's reports topic; the order path never blocks the flow.

Exactly once where it counts: each batch of intents is one Kafka transaction holding their
reports and the consumer's offsets. After a crash (kill -9 between a send and its report) the
intents after the last commit are read again; the gateway rebuilds its ledger from the reports
topic, and queries each intent it has no report of by client id before anything is sent, so
an order the venue took is adopted, never placed twice.

Every `trading.reconcile_every_s` (and at start) it reconciles with the venues; each second it
asks about orders not final yet; `cobflow trading halt [--flatten]` (the control folder)
cancels every open order of the run and, with --flatten, closes its positions.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cobflow.execution.control import read_commands, write_gateway_status
from cobflow.execution.live import (
    ExecutionReport,
    GatewayEvent,
    OrderIntent,
    Reconciliation,
    dumps,
    live_route,
    loads,
)
from cobflow.kafka_io import KafkaIOError, watermarks
from cobflow.settings.base import ConfigError
from cobflow.settings.secrets import load_keys

if TYPE_CHECKING:
    from cobflow.config import Settings
    from cobflow.operators.gateway import Gateway, OrderClient, Record
    from cobflow.settings.symbols import SymbolsConfig

log = logging.getLogger("cobflow.trade")


def check_mode(settings: Settings, mainnet: bool) -> None:
    """The guards before any connection: shadow or live, and mainnet named twice."""
    t = settings.trading
    if t.mode not in ("shadow", "live"):
        raise ConfigError(f"cobflow trade sends orders in shadow or live mode, and COBFLOW_TRADING__MODE is "
                          f"{t.mode}: set it to shadow (orders validated at the venue, none placed) or live")
    if t.environment == "mainnet" and not mainnet:
        raise ConfigError("COBFLOW_TRADING__ENVIRONMENT=mainnet trades real money: add --mainnet to the command "
                          "as well (or use testnet)")
    if mainnet and t.environment != "mainnet":
        raise ConfigError("--mainnet given but COBFLOW_TRADING__ENVIRONMENT is testnet: set it to mainnet as well")


def markets_of(symbols: SymbolsConfig, live_venue: str) -> dict[tuple[str, str], str]:
    """(venue, the client's market name) -> symbol, where each symbol's orders go."""
    return {live_route(sym, dict(spec.venues), spec.trading.route, live_venue, spec.trading.instrument): sym
            for sym, spec in symbols.symbols.items()}


def build_gateway(settings: Settings, symbols: SymbolsConfig) -> Gateway:
    from cobflow.connectors.trading import client_for
    from cobflow.operators.gateway import Gateway

    t = settings.trading
    markets = markets_of(symbols, t.live_venue)
    venues = sorted({v for v, _ in markets})
    keys = load_keys(venues, t.secrets_file)
    clients = {v: client_for(v, keys[v], t) for v in venues}
    senders: dict[str, list[OrderClient]] = {}
    if t.mode == "live" and t.senders:
        for v, c in clients.items():
            senders[v] = [c.sender() for _ in range(t.senders)]
            for s in senders[v]:  # together at the venue's rate, as one client would be
                s.exchange.rateLimit = c.exchange.rateLimit * t.senders  # type: ignore[attr-defined]
    return Gateway(t.run_id, t.mode, clients, markets, senders=senders, max_age_s=t.max_decision_age_s)


class RowsOut:
    """The gateway's records as QuestDB rows (live_orders, reconciliation, venue_balances,
    risk_events), written by a thread of their own every second: QuestDB away never stalls
    an order (the reports topic is the record; the rows wait, up to `limit`, and go when it is
    back)."""

    def __init__(self, settings: Settings, limit: int = 200_000) -> None:
        import queue
        import threading

        self.settings, self.limit = settings, limit
        self.queue: queue.SimpleQueue[list[Record]] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="cobflow-gateway-rows", daemon=True)
        self.thread.start()

    def put(self, records: list[Record]) -> None:
        if records:
            self.queue.put(records)

    def _loop(self) -> None:
        import queue

        from cobflow.dataflows.sinks.questdb import RowWriter
        from cobflow.dataflows.sinks.rows import rows_of
        from cobflow.tables import GATEWAY_TABLES

        writer, pending, away = None, [], False
        while True:
            done = self.stopping.wait(1.0)
            try:
                while True:
                    pending += rows_of(self.queue.get_nowait())
            except queue.Empty:
                pass
            if len(pending) > self.limit:
                log.warning("QuestDB away: %d oldest gateway rows dropped (the reports topic keeps them)",
                            len(pending) - self.limit)
                pending = pending[-self.limit:]
            if pending:
                try:
                    writer = writer or RowWriter(self.settings.questdb, list(GATEWAY_TABLES))
                    writer.write(pending)
                    pending = []
                    if away:
                        log.info("QuestDB is back: gateway rows written again")
                    away = False
                except Exception as e:  # noqa: BLE001 - an outage of the rows, never of the orders
                    if not away:
                        log.warning("gateway rows wait for QuestDB: %s", " ".join(str(e).split())[:200])
                    away = True
                    if writer is not None:
                        writer.close()
                    writer = None
            if done:
                if writer is not None:
                    writer.close()
                return

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(15)


@dataclass
class Loop:
    """The gateway between its Kafka topics (one process per run)."""

    settings: Settings
    gateway: Gateway
    stop_when: Callable[[], bool] = lambda: False
    rows: RowsOut | None = None

    def __post_init__(self) -> None:
        from confluent_kafka import Consumer, Producer

        from cobflow.kafka_io import KEEP_ALL, client_config, ensure_topics

        k, run = self.settings.kafka, self.settings.trading.run_id
        self.orders, self.reports = k.orders_topic(run), k.reports_topic(run)
        ensure_topics(k, [self.orders, self.reports], partitions=1, config=KEEP_ALL)
        self.commands_applied = self._restore()
        self.producer = Producer(client_config({"bootstrap.servers": k.servers,
                                                "transactional.id": f"cobflow-gateway-{run}",
                                                "transaction.timeout.ms": 60_000}))
        self.producer.init_transactions(30)
        # an intent is fetched as soon as it is written (librdkafka would wait up to 500 ms for more)
        self.consumer = Consumer(client_config({"bootstrap.servers": k.servers, "group.id": f"cobflow-gateway-{run}",
                                                "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                                "isolation.level": "read_committed", "fetch.wait.max.ms": 5}))
        from confluent_kafka import TopicPartition

        # assigned, not subscribed: a restarted gateway reads on at once, without waiting for the
        # group to time the dead one out (one gateway per run; its offsets still go with each
        # transaction, under the run's group id)
        self.consumer.assign([TopicPartition(self.orders, 0)])
        self.recovering = True  # until the intents after the last commit are carried out

    def _restore(self) -> int:
        """The ledger from the reports written so far; the last operator command applied."""
        from confluent_kafka import Consumer, TopicPartition

        from cobflow.kafka_io import client_config

        c = Consumer(client_config({"bootstrap.servers": self.settings.kafka.servers, "group.id": "cobflow-restore",
                                    "enable.auto.commit": False, "isolation.level": "read_committed"}))
        try:
            low, high = watermarks(c, TopicPartition(self.reports, 0))
            reports: dict[str, ExecutionReport] = {}
            everything: list[Record] = []  # rows again: a crash may have kept some from QuestDB
            applied = 0
            if high > low:
                c.assign([TopicPartition(self.reports, 0, low)])
                pos, deadline = low, time.monotonic() + 120
                while pos < high:
                    if time.monotonic() > deadline:
                        raise KafkaIOError(f"could not read {self.reports} to its end in 120 s (at offset {pos} of "
                                          f"{high}): is Kafka well?")
                    for m in c.consume(1000, timeout=1.0):
                        if m.error():
                            continue
                        pos = (m.offset() or 0) + 1
                        try:
                            r = loads(m.value() or b"")
                        except ValueError:
                            continue
                        if not isinstance(r, OrderIntent):
                            everything.append(r)
                        if isinstance(r, ExecutionReport):
                            reports[r.client_id] = r
                        elif isinstance(r, GatewayEvent) and "command_seq" in r.extra:
                            applied = max(applied, int(r.extra["command_seq"]))
                    if c.position([TopicPartition(self.reports, 0)])[0].offset >= high:
                        break
            self.gateway.restore(reports.values())
            if self.rows is not None:  # the same rows again (their dedup keys keep one of each)
                self.rows.put(everything)
            log.info("restored %d orders from %s", len(reports), self.reports)
            return applied
        finally:
            c.close()

    def _send(self, records: list[Record], offsets: list[Any] | None = None) -> None:
        """One transaction: the records (and the offsets of the intents that made them)."""
        if not records and not offsets:
            return
        self.producer.begin_transaction()
        for r in records:
            key = r.client_id if isinstance(r, ExecutionReport) else r.venue
            self.producer.produce(self.reports, dumps(r), key.encode())
            _say(r)
        if offsets:
            self.producer.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), 30)
        self.producer.commit_transaction(30)
        if self.rows is not None:
            self.rows.put(records)  # after the commit: a row for each record the topic holds

    def run(self) -> int:
        gw, t = self.gateway, self.settings.trading
        self._send(gw.reconcile(balances=False))
        next_poll = next_reconcile = next_status = time.monotonic()
        next_reconcile += t.reconcile_every_s
        while not self.stop_when():
            # the first intent as soon as it is there, then whatever else is already fetched
            # (consume(n, timeout) would wait the whole timeout for n)
            first = self.consumer.poll(0.01 if gw.inflight else 0.2)  # answers on their way: look soon
            msgs = [first, *self.consumer.consume(99, timeout=0)] if first is not None else []
            records: list[Record] = []
            for m in msgs:
                if m.error():
                    continue
                try:
                    intent = loads(m.value() or b"")
                except ValueError as e:
                    records.append(GatewayEvent(t.run_id, "", "", time.time_ns(), "gateway", "bad intent", str(e)))
                    continue
                if not hasattr(intent, "action"):
                    continue
                records += gw.submit(intent, recovering=self.recovering)  # type: ignore[arg-type]
            if msgs:
                self._send(records, self.consumer.position(self.consumer.assignment()))
            records = [*gw.collect(), *self._commands()]
            if self.recovering and self._caught_up():
                self.recovering = False  # the intents read again are carried out: the balances start here
                records += gw.reconcile()
            now = time.monotonic()
            if now >= next_poll:
                records += gw.poll()
                next_poll = now + 1.0
            if now >= next_reconcile:
                records += gw.reconcile()
                next_reconcile = now + t.reconcile_every_s
            self._send(records)
            if now >= next_status:
                write_gateway_status(t.control_dir, self._status())
                next_status = now + 1.0
        self.consumer.close()
        return 0

    def _caught_up(self) -> bool:
        """Every intent written before the start is read (and carried out)."""
        parts = self.consumer.assignment()
        if not parts:
            return False
        for tp in parts:
            low, high = watermarks(self.consumer, tp)
            pos = self.consumer.position([tp])[0].offset
            if pos < 0:
                pos = self.consumer.committed([tp], timeout=10)[0].offset
            if pos < 0:
                pos = low
            if pos < high:
                return False
        return True

    def _commands(self) -> list[Record]:
        out: list[Record] = []
        for c in read_commands(self.settings.trading.control_dir):
            if c["seq"] <= self.commands_applied:
                continue
            if c["command"] == "halt":
                flatten = bool(c.get("flatten"))
                log.warning("halt%s (command %d): cancelling every open order of the run",
                            " --flatten" if flatten else "", c["seq"])
                out += self.gateway.halt(flatten=flatten)
            out.append(GatewayEvent(self.settings.trading.run_id, "", "", time.time_ns(), "command", c["command"],
                                    extra={"command_seq": c["seq"], "flatten": bool(c.get("flatten"))}))
            self.commands_applied = c["seq"]
        return out

    def _status(self) -> dict[str, Any]:
        gw = self.gateway
        return {"mode": gw.mode, "run": gw.run, "environment": self.settings.trading.environment,
                "orders": {s: sum(o.status == s for o in gw.orders.values())
                           for s in sorted({o.status for o in gw.orders.values()})},
                "open": [{"client_id": cid, "symbol": o.intent.symbol, "venue": o.intent.venue, "side": o.intent.side,
                          "type": o.intent.type, "qty": o.intent.qty, "price": o.intent.price, "filled": o.filled,
                          "status": o.status} for cid, o in gw.orders.items()
                         if o.status in ("new", "unknown", "open", "partially_filled")],
                "positions": {f"{v}:{s}": q for (v, s), q in gw.positions().items()},
                "balances": gw.balances}


def _say(r: Record) -> None:
    if isinstance(r, ExecutionReport):
        lat = ""
        if r.acked_ns is not None and r.decided_ns:
            lat = f" (decision -> ack {(r.acked_ns - r.decided_ns) / 1e6:.0f} ms)"
        px = f" @ {r.avg_price:.8g}" if r.avg_price else ""
        why = f": {r.reason}" if r.status in ("rejected", "unknown") and r.reason else ""
        log.info("%s %s %s %s %g %s: %s %g%s%s%s", r.venue, r.symbol, r.client_id, r.side, r.qty, r.type, r.status,
                 r.filled, px, lat, why)
    elif isinstance(r, GatewayEvent) and r.rule != "command":
        log.warning("%s %s %s: %s %s", r.rule, r.venue, r.symbol, r.action, r.detail)


def main(settings: Settings, mainnet: bool = False, for_s: float | None = None) -> int:
    from cobflow.settings.symbols import load_symbols

    check_mode(settings, mainnet)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    symbols = load_symbols(settings.symbols_file)
    gateway = build_gateway(settings, symbols)
    stopping = {"now": False}

    def stop(*_: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    until = None if for_s is None else time.monotonic() + for_s
    rows = RowsOut(settings)
    try:
        loop = Loop(settings, gateway, lambda: stopping["now"] or (until is not None and time.monotonic() >= until),
                    rows)
        t = settings.trading
        print(f"cobflow trade: {t.mode} on {t.environment} ({', '.join(sorted(gateway.clients))}), run {t.run_id}: "
              f"intents from {loop.orders}, reports to {loop.reports}", file=sys.stderr, flush=True)
        return loop.run()
    finally:
        rows.close()


__all__ = ["Reconciliation", "check_mode", "main", "markets_of"]
