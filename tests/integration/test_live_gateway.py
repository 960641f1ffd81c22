"""`cobflow trade` on the real Kafka against the local Binance imitation (ccxt unmodified,
signatures checked): killed with kill -9 after an order was sent and before its answer,
started again, it finds the order by its client id and places nothing twice; then the kill
switch cancels every open order and flattens the position. The keys appear nowhere."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from cobflow.execution.live import ExecutionReport, GatewayEvent, OrderIntent, client_order_id, dumps, loads
from tests.exchange_imitation import FEE_RATE, BinanceImitation
from tests.integration.test_compose_commands import local, start, stop

pytestmark = pytest.mark.integration
KEY = "gwKEY" + "3" * 59
SECRET = "gwSECRET" + "5" * 56
RUN = "gw-kill"
SYMBOLS = """symbols:
  BTC-USDT:
    bucket: 1
    venues: {binance: BTC-USDT}
    trading: {route: binance}
"""


def _records(settings, topic: str) -> list:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer({"bootstrap.servers": settings.kafka.servers, "group.id": "test-read", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    try:
        try:
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        except KafkaException:  # not made yet
            return []
        if high <= low:
            return []
        c.assign([TopicPartition(topic, 0, low)])
        out, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline:
            for m in c.consume(500, timeout=0.5):
                if not m.error():
                    out.append(loads(m.value()))
            if c.position([TopicPartition(topic, 0)])[0].offset >= high:
                break
        return out
    finally:
        c.close()


def _final(settings, topic: str) -> dict[str, ExecutionReport]:
    return {r.client_id: r for r in _records(settings, topic) if isinstance(r, ExecutionReport)}


def _wait(cond, timeout: float, what: str, log, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the gateway ended (exit {proc.returncode}) waiting for {what}; log:\n"
                                 f"{log.read_text()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; log:\n{log.read_text()[-3000:]}")


def test_a_gateway_killed_between_send_and_answer_places_nothing_twice_and_halts(namespace, tmp_path):
    from confluent_kafka import Producer

    settings, env = namespace
    venue = BinanceImitation(KEY, SECRET, balances={"USDT": 1_000_000.0, "BTC": 1.0})
    venue.add_market("BTCUSDT", "BTC", "USDT", [(50_000.0, 50.0)], [(50_010.0, 50.0)])
    url = venue.serve()
    (tmp_path / "symbols.yaml").write_text(SYMBOLS)
    env = {**env, "COBFLOW_SYMBOLS_FILE": str(tmp_path / "symbols.yaml"), "COBFLOW_TRADING__MODE": "live",
           "COBFLOW_TRADING__RUN_ID": RUN, "COBFLOW_TRADING__ENDPOINTS": json.dumps({"binance": url}),
           "COBFLOW_TRADING__REQUEST_TIMEOUT_S": "120", "COBFLOW_TRADING__RECONCILE_EVERY_S": "2",
           "COBFLOW_TRADING__CONTROL_DIR": str(tmp_path / "control"),
           "COBFLOW_BINANCE_API_KEY": KEY, "COBFLOW_BINANCE_SECRET": SECRET}
    orders_topic = settings.kafka.orders_topic(RUN)
    reports_topic = settings.kafka.reports_topic(RUN)
    now = int(time.time())  # fresh decisions: the gateway places none older than max_decision_age_s
    intents = [OrderIntent(run=RUN, client_id=client_order_id(RUN, "BTC-USDT", now + i, 0), symbol="BTC-USDT",
                           venue="binance", market="BTC/USDT", action="place", side="buy", type="market", qty=0.1,
                           decided_s=now + i, decided_ns=time.time_ns()) for i in range(5)]
    venue.fail("POST /api/v3/order", "ok", times=2)
    venue.fail("POST /api/v3/order", "accept_then_hang")  # the third: accepted, never answered
    log = tmp_path / "gateway.log"
    try:
        with open(log, "ab") as out:
            gw = start(local(["cobflow", "trade"]), env, out)
            try:
                _wait(lambda: os.path.exists(tmp_path / "control" / "gateway.json"), 90, "the gateway", log, gw)
                p = Producer({"bootstrap.servers": settings.kafka.servers})
                for i in intents:  # as the strategy flow writes them
                    p.produce(orders_topic, dumps(i), i.client_id.encode())
                p.flush(30)
                _wait(lambda: len(venue.hung) == 1, 60, "the third order to be sent", log, gw)
                assert venue.count("POST", "/api/v3/order") >= 3  # with senders, the 4th and 5th go on
            finally:
                os.killpg(gw.pid, signal.SIGKILL)  # between the send and its answer
                gw.wait(10)
            for e in venue.hung:
                e.set()
            gw = start(local(["cobflow", "trade"]), env, out)
            try:
                _wait(lambda: len(_final(settings, reports_topic)) == 5 and
                      all(r.status == "filled" for r in _final(settings, reports_topic).values()), 90,
                      "every intent reported filled", log, gw)
                # one order per intent at the venue: the three sent before the kill were found, not sent again
                assert sorted(o.client_id for o in venue.orders.values()) == sorted(i.client_id for i in intents)
                assert venue.count("POST", "/api/v3/order") == 5
                # two resting orders of the run, then the kill switch with --flatten
                for n, price in enumerate((49_000.0, 48_000.0)):
                    second = int(time.time())
                    rest = OrderIntent(run=RUN, client_id=client_order_id(RUN, "BTC-USDT", second, 10 + n),
                                       symbol="BTC-USDT", venue="binance", market="BTC/USDT", action="place",
                                       side="buy", type="limit", qty=0.01, price=price, decided_s=second)
                    p.produce(orders_topic, dumps(rest), rest.client_id.encode())
                p.flush(30)
                _wait(lambda: len(venue.open_orders()) == 2, 60, "two resting orders", log, gw)
                from cobflow.execution.control import append_command

                append_command(tmp_path / "control", "halt", flatten=True)
                _wait(lambda: venue.open_orders() == [] and abs(venue.balances["BTC"] - 1.0) < 0.01, 60,
                      "the kill switch", log, gw)
                time.sleep(3)  # a reconciliation after the halt
            finally:
                code = stop(gw)
        assert code == 0, log.read_text()[-2000:]
    finally:
        venue.close()
    records = _records(settings, reports_topic)
    final = {r.client_id: r for r in records if isinstance(r, ExecutionReport)}
    for i in intents:
        r = final[i.client_id]
        assert r.filled == pytest.approx(0.1) and r.notional == pytest.approx(0.1 * 50_010)
        assert r.fee == pytest.approx(0.1 * FEE_RATE * 50_010)
    events = [r for r in records if isinstance(r, GatewayEvent)]
    assert sum(e.rule == "halted" and e.action == "cancel" for e in events) == 2
    flat = [e for e in events if e.rule == "flatten"]
    assert len(flat) == 1 and flat[0].action == f"sell {0.5 * (1 - FEE_RATE):g} at market"
    # the venue is where the run started, less the fees: 0.5 BTC bought (fee in BTC), all of it sold
    assert venue.balances["BTC"] == pytest.approx(1.0)
    assert venue.balances["USDT"] == pytest.approx(1_000_000 - 0.5 * 50_010 + 0.5 * (1 - FEE_RATE) * 50_000 *
                                                   (1 - FEE_RATE))
    # no balance differences: the ledger followed every fill and fee, through the restart
    from cobflow.execution.live import Reconciliation

    assert [r for r in records if isinstance(r, Reconciliation) and r.what == "balance"] == []
    # the same in QuestDB: each order's latest row, the kill switch's risk events, the balances;
    # and the Trading dashboard's live panels have rows to show
    from cobflow.qdb import query, wait_for_wal
    from cobflow.tables import GATEWAY_TABLES

    q = settings.questdb
    wait_for_wal(q, [q.table(t.name) for t in GATEWAY_TABLES])
    rows = query(q, f"select client_id, last(status) status, last(filled) filled, last(ack_ms) ack_ms "
                    f"from {q.table('live_orders')} where run = '{RUN}' group by client_id")
    by_id = {r["client_id"]: r for r in rows}
    assert all(by_id[i.client_id]["status"] == "filled" and by_id[i.client_id]["filled"] == pytest.approx(0.1)
               for i in intents)
    assert len(by_id) == 8  # five buys, two resting (cancelled), the flatten
    risk = query(q, f"select rule, action from {q.table('risk_events')} where run = '{RUN}'")
    assert sorted((r["rule"], r["action"]) for r in risk) == sorted(
        [("halted", "cancel")] * 2 + [("flatten", f"sell {0.5 * (1 - FEE_RATE):g} at market")])
    assert query(q, f"select count() n from {q.table('venue_balances')} where run = '{RUN}'")[0]["n"] >= 4
    from cobflow.app.dashboards import DASHBOARD_DIR
    from cobflow.app.dashboards.validate import Report, TimeRange, load_dashboards, validate_dashboard, with_table_prefix
    from cobflow.qdb import ensure_tables
    from cobflow.tables import FLOW_TABLES

    ensure_tables(q, list(FLOW_TABLES))  # as the strategy flow beside the gateway makes them
    dash = load_dashboards(DASHBOARD_DIR)["cobflow-trading.json"]
    for v in dash["templating"]["list"]:
        if v["name"] in ("run", "symbol"):
            v["current"] = {"value": RUN if v["name"] == "run" else "BTC-USDT"}
    now_ms = time.time_ns() // 1_000_000
    report = Report()
    validate_dashboard("trading", dash, lambda sql: query(q, with_table_prefix(sql, q.table_prefix)),
                       TimeRange.parse(str(now_ms - 3_600_000), str(now_ms + 60_000), now_ms), report)
    live = {r.panel: r for r in report.queries if r.panel.startswith(("Live orders", "Decision -> send",
                                                                       "Venue balances"))}
    assert len(live) == 4 and all(r.error is None and r.rows for r in live.values()), (report.problems, live)
    stored = "".join(json.dumps(query(q, f"select * from {q.table(t.name)}"), default=str) for t in GATEWAY_TABLES)
    text = log.read_text() + "".join(dumps(r).decode() for r in records) + \
        (tmp_path / "control" / "gateway.json").read_text() + stored
    assert KEY not in text and SECRET not in text


def test_the_strategy_flow_in_shadow_mode_sends_its_paper_orders_and_the_gateway_validates_each(namespace,
                                                                                                tmp_path):
    """Shadow mode end to end: the strategy flow (maker: resting limit orders and cancels)
    reads the replayed capture from Kafka, keeps its paper account, and writes one intent per
    order it decided to the orders topic; the gateway has the venue check each one (Binance's
    test-order endpoint) and places nothing."""
    from cobflow.qdb import query
    from tests.integration.test_cob_e2e import norm
    from tests.integration.test_execution_modes import CONFIG, maker_from_kafka

    settings, env = namespace
    run = "shadow-e2e"
    env = {**env, "COBFLOW_TRADING__MODE": "shadow", "COBFLOW_TRADING__RUN_ID": run}
    maker_from_kafka(settings, env, tmp_path)
    orders = query(settings.questdb, f"select * from {settings.questdb.table('orders')} where run = '{run}'")
    decided = {}
    for r in orders:  # each order's first row: what was decided
        decided.setdefault(r["order_id"], r)
    sent = [r for r in decided.values() if r["status"] != "rejected"]
    intents = [i for i in _records(settings, settings.kafka.orders_topic(run)) if isinstance(i, OrderIntent)]
    places = [i for i in intents if i.action == "place"]
    assert len(sent) > 5 and len(places) == len(sent)
    # the same orders: side, quantity and decision second (prices go in the venue's quote, USDT)
    assert sorted((i.symbol, i.decided_s, i.side, round(i.qty, 9)) for i in places) == \
        sorted((r["symbol"], norm(r["decision_ts"]) // 1_000_000_000, r["side"], round(r["qty"], 9)) for r in sent)
    cancels = [i for i in intents if i.action == "cancel"]
    assert {i.client_id for i in cancels} <= {i.client_id for i in places}
    assert {(i.venue, i.market) for i in places} <= {("binance", "BTC/USDT"), ("binance", "ETH/USDT")}
    # the gateway in shadow mode: every intent checked at the venue, nothing placed
    venue = BinanceImitation(KEY, SECRET, balances={"USDT": 10_000_000.0, "BTC": 1_000.0, "ETH": 10_000.0})
    for base in ("BTC", "ETH"):
        venue.add_market(f"{base}USDT", base, "USDT", [(1.0, 1e9)], [(1e6, 1e9)], tick=0.01, step=0.00001)
    url = venue.serve()
    genv = {**env, "COBFLOW_SYMBOLS_FILE": str(CONFIG), "COBFLOW_TRADING__ENDPOINTS": json.dumps({"binance": url}),
            "COBFLOW_TRADING__CONTROL_DIR": str(tmp_path / "control"),
            "COBFLOW_BINANCE_API_KEY": KEY, "COBFLOW_BINANCE_SECRET": SECRET}
    log = tmp_path / "gateway.log"
    try:
        with open(log, "ab") as out:
            gw = start(local(["cobflow", "trade"]), genv, out)
            try:
                _wait(lambda: len(_final(settings, settings.kafka.reports_topic(run))) == len(places), 120,
                      "a report for every intent", log, gw)
            finally:
                code = stop(gw)
        assert code == 0, log.read_text()[-2000:]
    finally:
        venue.close()
    final = _final(settings, settings.kafka.reports_topic(run))
    assert {r.status for r in final.values()} == {"shadow"}, {r.reason for r in final.values()}
    assert venue.orders == {} and venue.count("POST", "/api/v3/order") == 0
    assert venue.count("POST", "/api/v3/order/test") == len(places)


def test_live_mode_end_to_end_the_account_books_what_the_venue_filled(namespace, tmp_path):
    """A live simulated market in Kafka, the strategy flow following it in live mode, the
    gateway placing its orders at the Binance imitation and the venue's reports read back:
    every market order the account booked as final has the venue's quantity, average price and
    fee, and the account's position is what those fills add up to."""
    from cobflow.qdb import query, wait_for_wal
    from cobflow.tables import FLOW_TABLES
    from tests.integration.test_compose_commands import TESTED_COMMANDS
    from tests.integration.test_execution_modes import CONFIG
    from tests.modeltools import seeded_checkpoints
    from tests.unit.test_strategy import SPEC

    settings, env = namespace
    run = "live-e2e"
    venue = BinanceImitation(KEY, SECRET, balances={"USDT": 1e9, "BTC": 1e4, "ETH": 1e5})
    venue.add_market("BTCUSDT", "BTC", "USDT", [(64_990.0, 1e6)], [(65_010.0, 1e6)])
    venue.add_market("ETHUSDT", "ETH", "USDT", [(3_190.0, 1e6)], [(3_192.0, 1e6)], tick=0.001)
    url = venue.serve()
    env = {**env, "COBFLOW_SYMBOLS_FILE": str(CONFIG), "COBFLOW_MODELS__DIR": str(seeded_checkpoints(
        tmp_path / "models", SPEC)), "COBFLOW_TRADING__MIN_ORDER_NOTIONAL": "0",
        "COBFLOW_TRADING__MAX_ORDERS_PER_MINUTE": "60", "COBFLOW_TRADING__MODE": "live",
        "COBFLOW_TRADING__RUN_ID": run, "COBFLOW_TRADING__ENDPOINTS": json.dumps({"binance": url}),
        "COBFLOW_TRADING__CONTROL_DIR": str(tmp_path / "control"), "COBFLOW_FLOW__IDLE_TIMEOUT_S": "1.0",
        "COBFLOW_BINANCE_API_KEY": KEY, "COBFLOW_BINANCE_SECRET": SECRET}
    log = tmp_path / "live.log"
    q = settings.questdb

    def booked() -> list[dict]:
        try:
            return query(q, f"select * from {q.table('orders')} where run = '{run}' and type = 'market' "
                            f"and status in ('filled', 'partial')")
        except RuntimeError:
            return []

    try:
        with open(log, "ab") as out:
            procs = [start(local(TESTED_COMMANDS["simulator"]), env, out),
                     start(local(["cobflow", "run", "strategy", "--follow"]), env, out),
                     start(local(["cobflow", "trade"]), env, out)]
            try:
                _wait(lambda: len(booked()) >= 6, 240, "six market orders booked from the venue's reports", log,
                      procs[2])
            finally:
                codes = [stop(p) for p in reversed(procs)]
        assert all(c in (0, 130, -signal.SIGINT) for c in codes), (codes, log.read_text()[-3000:])
    finally:
        venue.close()
    wait_for_wal(q, [q.table(t.name) for t in FLOW_TABLES])
    at_venue = {o.client_id: o for o in venue.orders.values()}
    fills = query(q, f"select * from {q.table('fills')} where run = '{run}'")
    orders = booked()
    assert len(orders) >= 6
    by_order: dict[str, list[dict]] = {}
    for f in fills:
        by_order.setdefault(f["order_id"], []).append(f)
    for o in orders:
        # the order's fills are the venue's: its order there (by client id), quantity, price, fee
        vo = at_venue[o["client_id"]]
        assert o["filled"] == pytest.approx(vo.executed) and o["venue"] == "binance"
        assert o["avg_price"] == pytest.approx(vo.quote / vo.executed)
        assert o["fee"] == pytest.approx(FEE_RATE * vo.quote)  # 0.1%: in BTC on a buy (at its price), USDT on a sell
        assert sum(f["qty"] for f in by_order[o["order_id"]]) == pytest.approx(vo.executed)
    assert "Traceback" not in log.read_text()
