"""The gateway against a local imitation of Binance's spot REST API, through ccxt unmodified:
signatures checked as the venue checks them, orders filled from a scripted book, faults on
cue. Expected values come from the book the test sets and Binance's rules (fees 0.1% in the
asset received), never from the gateway's own output."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from cobflow.connectors.trading import client_for
from cobflow.execution.live import (
    Balance,
    ExecutionReport,
    GatewayEvent,
    IllegalTransition,
    OrderIntent,
    Reconciliation,
    client_order_id,
    dumps,
    loads,
    run_tag,
    transition,
)
from cobflow.operators.gateway import Gateway
from cobflow.settings.secrets import VenueKeys
from cobflow.settings.trading import TradingSettings
from tests.exchange_imitation import FEE_RATE, BinanceImitation

KEY = "kEy" + "7" * 61  # distinctive: a test greps every output for them
SECRET = "sEcReT" + "9" * 58
RUN = "live-test"
BOOK_BIDS = [(50_000.0, 1.0), (49_990.0, 2.0)]
BOOK_ASKS = [(50_010.0, 0.5), (50_020.0, 2.0)]


@pytest.fixture()
def venue():
    im = BinanceImitation(KEY, SECRET)
    im.add_market("BTCUSDT", "BTC", "USDT", BOOK_BIDS, BOOK_ASKS)
    url = im.serve()
    im.url = url  # type: ignore[attr-defined]
    yield im
    im.close()


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, s: float) -> None:
        self.waits.append(s)


def gateway(venue: BinanceImitation, mode: str = "live", secret: str = SECRET, timeout_s: float = 5.0,
            sleeps: Sleeps | None = None) -> Gateway:
    trading = TradingSettings(mode=mode, endpoints={"binance": venue.url}, request_timeout_s=timeout_s)  # type: ignore[attr-defined]
    from pydantic import SecretStr

    keys = VenueKeys(api_key=SecretStr(KEY), secret=SecretStr(secret))
    client = client_for("binance", keys, trading)
    return Gateway(RUN, mode, {"binance": client}, {("binance", "BTC/USDT"): "BTC-USDT"},
                   sleep=sleeps or Sleeps())


def intent(second: int, side: str = "buy", qty: float = 0.2, type: str = "market", price: float | None = None,
           seq: int = 0, **kw: object) -> OrderIntent:
    return OrderIntent(run=RUN, client_id=client_order_id(RUN, "BTC-USDT", second, seq), symbol="BTC-USDT",
                       venue="binance", market="BTC/USDT", action="place", side=side, type=type, qty=qty,
                       price=price, decided_s=second, **kw)  # type: ignore[arg-type]


def reports(records: list) -> list[ExecutionReport]:
    return [r for r in records if isinstance(r, ExecutionReport)]


def diffs(records: list) -> list[Reconciliation]:
    return [r for r in records if isinstance(r, Reconciliation)]


# -- client ids and the state machine --------------------------------------------------------

def test_client_ids_are_deterministic_alphanumeric_and_name_their_run():
    a = client_order_id(RUN, "BTC-USDT", 1_700_000_000, 3)
    assert a == client_order_id(RUN, "BTC-USDT", 1_700_000_000, 3)
    assert len(a) == 24 and a.isalnum() and a.startswith(run_tag(RUN))
    others = {client_order_id(RUN, "ETH-USDT", 1_700_000_000, 3), client_order_id(RUN, "BTC-USDT", 1_700_000_001, 3),
              client_order_id(RUN, "BTC-USDT", 1_700_000_000, 4), client_order_id("other", "BTC-USDT", 1_700_000_000, 3)}
    assert a not in others and len(others) == 4


def test_the_state_machine_refuses_what_the_spec_does_not_allow():
    assert transition("new", "unknown") == "unknown"
    assert transition("unknown", "filled") == "filled"
    for old, new in (("filled", "open"), ("cancelled", "filled"), ("rejected", "open"), ("shadow", "filled"),
                     ("open", "new")):
        with pytest.raises(IllegalTransition):
            transition(old, new)


def test_records_travel_as_tagged_json_and_bad_values_say_why():
    i = intent(10)
    assert loads(dumps(i)) == i
    with pytest.raises(ValueError, match="not JSON"):
        loads(b"{")
    with pytest.raises(ValueError, match="unknown field"):
        loads(b'{"kind": "OrderIntent", "nope": 1}')


# -- orders at the venue ------------------------------------------------------------------------

def test_a_market_order_fills_by_the_book_and_the_ledger_equals_the_venue(venue):
    gw = gateway(venue)
    first = gw.reconcile()  # the first look starts the ledger's balances: no differences, each balance said
    assert diffs(first) == []
    assert {(b.asset, b.total) for b in first if isinstance(b, Balance)} == {("USDT", 100_000.0), ("BTC", 1.0),
                                                                            ("ETH", 10.0)}
    out = reports(gw.submit(intent(100, qty=0.6)))
    assert [r.status for r in out] == ["filled"]
    r = out[0]
    # 0.5 at 50,010 and 0.1 at 50,020 (the book), fee 0.1% of the base bought, valued at each price
    assert r.filled == pytest.approx(0.6)
    assert r.notional == pytest.approx(0.5 * 50_010 + 0.1 * 50_020)
    assert r.fee == pytest.approx(FEE_RATE * (0.5 * 50_010 + 0.1 * 50_020))
    assert r.venue_order_id is not None and r.sent_ns is not None and r.acked_ns >= r.sent_ns
    assert len(venue.by_client(r.client_id)) == 1
    assert diffs(gw.reconcile()) == []  # balances: 100,000 - notional USDT, 1 + 0.6 - 0.0006 BTC, as the venue has
    assert venue.balances["BTC"] == pytest.approx(1 + 0.6 * (1 - FEE_RATE))


def test_an_order_the_book_cannot_fill_expires_with_its_partial_fill(venue):
    venue.balances["USDT"] = 1_000_000.0
    out = reports(gateway(venue).submit(intent(100, qty=3.0)))
    assert out[-1].status == "expired" and out[-1].filled == pytest.approx(2.5)


def test_a_429_is_waited_out_as_the_venue_asks_and_the_order_placed_once(venue):
    sleeps = Sleeps()
    gw = gateway(venue, sleeps=sleeps)
    venue.fail("POST /api/v3/order", "429", times=3, retry_after=2)
    out = reports(gw.submit(intent(100)))
    assert out[-1].status == "filled"
    assert sleeps.waits == [2.0, 2.0, 2.0]
    assert venue.count("POST", "/api/v3/order") == 4 and len(venue.orders) == 1


def test_a_timeout_after_the_venue_accepted_is_resolved_by_a_query_not_a_resend(venue):
    gw = gateway(venue, timeout_s=0.5)
    venue.fail("POST /api/v3/order", "accept_then_hang")
    out = reports(gw.submit(intent(100, qty=0.2)))
    assert [r.status for r in out] == ["unknown", "filled"]
    assert out[-1].filled == pytest.approx(0.2)
    assert venue.count("POST", "/api/v3/order") == 1 and len(venue.orders) == 1
    assert venue.count("GET", "/api/v3/order") >= 1


def test_a_5xx_before_the_venue_took_it_ends_rejected_after_queries_and_nothing_is_placed(venue):
    sleeps = Sleeps()
    gw = gateway(venue, sleeps=sleeps)
    venue.fail("POST /api/v3/order", "503")
    out = reports(gw.submit(intent(100)))
    assert [r.status for r in out] == ["unknown"]  # queried once at once, not found: asked again at each poll
    assert reports(gw.submit(intent(101)))[-1].status == "filled"  # the next order is not held up
    assert reports(gw.poll()) == []
    out = reports(gw.poll())
    assert [r.status for r in out] == ["rejected"] and "never placed" in out[-1].reason
    assert venue.count("GET", "/api/v3/order") == 3 and len(venue.orders) == 1


def test_a_duplicate_client_id_is_adopted_never_doubled(venue):
    first = gateway(venue)
    resting = intent(100, side="sell", qty=0.1, type="limit", price=50_100.0)
    assert reports(first.submit(resting))[-1].status == "open"
    second = gateway(venue)  # a gateway that lost its ledger sends the same intent again
    out = reports(second.submit(resting))
    assert [r.status for r in out] == ["unknown", "open"]
    assert len(venue.by_client(resting.client_id)) == 1


def test_after_a_restart_an_intent_read_again_is_queried_first_and_not_sent(venue):
    i = intent(100, qty=0.2)
    assert reports(gateway(venue).submit(i))[-1].status == "filled"
    again = reports(gateway(venue).submit(i, recovering=True))
    assert [r.status for r in again] == ["filled"] and again[0].filled == pytest.approx(0.2)
    assert venue.count("POST", "/api/v3/order") == 1 and len(venue.orders) == 1
    # the restored ledger (reports read back) knows it: nothing asked at all
    gw = gateway(venue)
    gw.restore(again)
    before = len(venue.requests)
    assert gw.submit(i, recovering=True) == [] and len(venue.requests) == before


def test_a_fill_only_a_query_shows_is_found_by_the_poll(venue):
    gw = gateway(venue)
    venue.fail("POST /api/v3/order", "hide_fill")
    assert [r.status for r in reports(gw.submit(intent(100)))] == ["open"]
    polled = reports(gw.poll())
    assert [r.status for r in polled] == ["filled"] and polled[0].fee == pytest.approx(FEE_RATE * 0.2 * 50_010)


def test_a_resting_order_fills_when_the_book_moves_through_it(venue):
    gw = gateway(venue)
    assert reports(gw.submit(intent(100, side="buy", qty=0.3, type="limit", price=49_950.0)))[-1].status == "open"
    venue.set_book("BTCUSDT", [(49_900.0, 1.0)], [(49_940.0, 1.0)])
    polled = reports(gw.poll())
    assert polled[-1].status == "filled" and polled[-1].notional == pytest.approx(0.3 * 49_950)


def test_shadow_mode_validates_at_the_venue_and_places_nothing(venue):
    gw = gateway(venue, mode="shadow")
    ok = reports(gw.submit(intent(100)))
    bad = reports(gw.submit(intent(101, qty=0.123456789)))  # finer than the step: ccxt truncates to it
    too_big = reports(gw.submit(intent(102, qty=5.0, type="limit", price=60_000.0)))
    assert ok[-1].status == "shadow" and bad[-1].status == "shadow"
    assert too_big[-1].status == "rejected" and "insufficient balance" in too_big[-1].reason
    assert venue.orders == {} and venue.count("POST", "/api/v3/order/test") == 3
    assert venue.count("POST", "/api/v3/order") == 0


def test_reconciliation_adopts_the_venues_orders_and_balances(venue):
    gw = gateway(venue)
    gw.reconcile()
    other = gateway(venue)  # an order of this run the ledger never saw (sent before a crash)
    lost = intent(100, side="sell", qty=0.1, type="limit", price=50_200.0)
    other.submit(lost)
    venue.balances["USDT"] += 1_000.0  # a deposit
    found = diffs(gw.reconcile())
    assert {(r.what, r.key) for r in found} == {("order", lost.client_id), ("balance", "USDT")}
    assert gw.orders[lost.client_id].status == "open"
    usdt = next(r for r in found if r.key == "USDT")
    assert float(usdt.ours) == pytest.approx(100_000.0) and float(usdt.venue_says) == pytest.approx(101_000.0)
    assert diffs(gw.reconcile()) == []  # the venue's word taken: nothing differs any more


def test_the_kill_switch_cancels_every_open_order_and_flattens(venue):
    gw = gateway(venue)
    gw.reconcile()
    gw.submit(intent(100, qty=0.4))  # a position of 0.4 BTC
    gw.submit(intent(101, side="buy", qty=0.1, type="limit", price=49_000.0))
    gw.submit(intent(102, side="sell", qty=0.1, type="limit", price=51_000.0))
    assert len(venue.open_orders()) == 2
    out = gw.halt(flatten=True)
    assert venue.open_orders() == []
    events = [e for e in out if isinstance(e, GatewayEvent)]
    assert sum(e.rule == "halted" and e.action == "cancel" for e in events) == 2
    # bought 0.4 of which the venue kept 0.1% as its fee: 0.3996 held, 0.3996 sold
    assert any(e.rule == "flatten" and e.action == f"sell {0.4 * (1 - FEE_RATE):g} at market" for e in events)
    assert gw.positions()[("binance", "BTC-USDT")] == pytest.approx(0.0, abs=1e-12)
    assert venue.balances["BTC"] == pytest.approx(1.0)
    assert diffs(gw.reconcile()) == []


def test_keys_never_reach_a_report_a_log_or_an_error(venue, caplog):
    caplog.set_level(logging.DEBUG)
    gw = gateway(venue, timeout_s=0.5)
    venue.fail("POST /api/v3/order", "accept_then_hang")
    venue.fail("POST /api/v3/order", "429")
    out = gw.submit(intent(100)) + gw.submit(intent(101)) + gw.reconcile() + gw.halt(flatten=True)
    from cobflow.connectors.trading.client import Unauthorized

    with pytest.raises(Unauthorized) as refused:
        gateway(venue, secret="wrong" + SECRET[5:]).submit(intent(102))
    text = "".join(dumps(r).decode() for r in out) + caplog.text + str(refused.value) + repr(gw.clients)
    from pydantic import SecretStr

    from cobflow.settings.secrets import VenueKeys as K

    text += repr(K(api_key=SecretStr(KEY), secret=SecretStr(SECRET)))
    assert KEY not in text and SECRET not in text and SECRET[5:] not in text
    assert "refused the API key" in str(refused.value) and "\n" not in str(refused.value)


# -- the guards of `cobflow trade` ---------------------------------------------------------------

@pytest.mark.parametrize("env, says", [
    ({"COBFLOW_TRADING__MODE": "paper"}, "cobflow trade sends orders in shadow or live mode"),
    ({"COBFLOW_TRADING__MODE": "live"}, "trading on binance needs its keys: set COBFLOW_BINANCE_API_KEY and "
                                        "COBFLOW_BINANCE_SECRET"),
    ({"COBFLOW_TRADING__MODE": "live", "COBFLOW_TRADING__ENVIRONMENT": "mainnet",
      "COBFLOW_BINANCE_API_KEY": KEY, "COBFLOW_BINANCE_SECRET": SECRET}, "trades real money: add --mainnet"),
    ({"COBFLOW_TRADING__MODE": "live", "secrets_mode": 0o644}, "has mode 0644: others can read it"),
])
def test_trade_refuses_in_one_line_what_is_missing_and_never_prints_a_key(env, says, monkeypatch, tmp_path, capsys):
    import os

    from cobflow.app.cli import main

    (tmp_path / "symbols.yaml").write_text("symbols:\n  BTC-USDT:\n    bucket: 1\n    venues: {binance: BTC-USDT}\n")
    monkeypatch.setenv("COBFLOW_SYMBOLS_FILE", str(tmp_path / "symbols.yaml"))
    for k in ("COBFLOW_BINANCE_API_KEY", "COBFLOW_BINANCE_SECRET"):
        monkeypatch.delenv(k, raising=False)
    env = dict(env)
    if "secrets_mode" in env:
        f = tmp_path / "keys.yaml"
        f.write_text(f"binance: {{api_key: {KEY}, secret: {SECRET}}}\n")
        os.chmod(f, env.pop("secrets_mode"))
        monkeypatch.setenv("COBFLOW_TRADING__SECRETS_FILE", str(f))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["trade"]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and KEY not in err and SECRET not in err


# -- Bybit v5 and OKX v5 (spot), through the same gateway ----------------------------------------

PASSPHRASE = "pAsSpHrAsE-41"
#: venue -> (its place endpoint, the imitation's class name)
OTHERS = {"bybit": "POST /v5/order/create", "okx": "POST /api/v5/trade/batch-orders"}


@pytest.fixture(params=sorted(OTHERS))
def other(request):
    from tests import exchange_imitation as ex

    name = request.param
    im = ex.BybitImitation(KEY[:18], SECRET[:36]) if name == "bybit" else ex.OkxImitation(KEY[:32], SECRET[:32],
                                                                                          PASSPHRASE)
    im.add_market("BTCUSDT", "BTC", "USDT", BOOK_BIDS, BOOK_ASKS)
    im.url = im.serve()  # type: ignore[attr-defined]
    im.name = name  # type: ignore[attr-defined]
    im.place = OTHERS[name].split()  # type: ignore[attr-defined]
    yield im
    im.close()


def other_gateway(venue, sleeps: Sleeps | None = None, timeout_s: float = 5.0, mode: str = "live") -> Gateway:
    from pydantic import SecretStr

    name = venue.name
    trading = TradingSettings(mode=mode, endpoints={name: venue.url}, request_timeout_s=timeout_s)
    n = 18 if name == "bybit" else 32
    keys = VenueKeys(api_key=SecretStr(KEY[:n]), secret=SecretStr(SECRET[:36 if name == "bybit" else 32]),
                     passphrase=SecretStr(PASSPHRASE) if name == "okx" else None)
    return Gateway(RUN, mode, {name: client_for(name, keys, trading)}, {(name, "BTC/USDT"): "BTC-USDT"},
                   sleep=sleeps or Sleeps())


def on(venue, i: OrderIntent) -> OrderIntent:
    from dataclasses import replace

    return replace(i, venue=venue.name)


def test_bybit_and_okx_fill_by_the_book_answers_are_queried_and_the_ledger_equals_the_venue(other):
    gw = other_gateway(other)
    assert diffs(gw.reconcile()) == []
    out = reports(gw.submit(on(other, intent(100, qty=0.6))))
    # their create answers carry the ids only: the order is open until its query says filled
    assert [r.status for r in out] == ["open", "filled"]
    assert out[-1].notional == pytest.approx(0.5 * 50_010 + 0.1 * 50_020)
    assert out[-1].fee == pytest.approx(FEE_RATE * (0.5 * 50_010 + 0.1 * 50_020))
    assert other.count(*other.place) == 1 and len(other.orders) == 1
    assert diffs(gw.reconcile()) == []


def test_bybit_and_okx_rate_limits_are_waited_out_and_the_order_placed_once(other):
    sleeps = Sleeps()
    gw = other_gateway(other, sleeps=sleeps)
    other.fail(" ".join(other.place), "429", times=2, retry_after=3)
    assert reports(gw.submit(on(other, intent(100))))[-1].status == "filled"
    # Bybit: X-Bapi-Limit-Reset-Timestamp; OKX: Retry-After
    assert len(sleeps.waits) == 2 and all(2.0 < w <= 3.0 for w in sleeps.waits), sleeps.waits
    assert other.count(*other.place) == 3 and len(other.orders) == 1


def test_bybit_and_okx_timeout_after_accept_and_a_repeated_client_id_never_double(other):
    gw = other_gateway(other, timeout_s=0.5)
    other.fail(" ".join(other.place), "accept_then_hang")
    first = on(other, intent(100, qty=0.2))
    assert [r.status for r in reports(gw.submit(first))] == ["unknown", "filled"]
    again = reports(other_gateway(other).submit(first))  # a gateway without its ledger sends it again
    assert [r.status for r in again] == ["unknown", "filled"]  # the venue: duplicate client id -> queried
    assert other.count(*other.place) == 2 and len(other.orders) == 1


def test_bybit_and_okx_kill_switch_and_shadow_mode(other):
    gw = other_gateway(other)
    gw.reconcile()
    gw.submit(on(other, intent(100, qty=0.4)))
    gw.submit(on(other, intent(101, side="sell", qty=0.1, type="limit", price=51_000.0)))
    assert len(other.open_orders()) == 1
    gw.halt(flatten=True)
    assert other.open_orders() == [] and other.balances["BTC"] == pytest.approx(1.0)
    assert diffs(gw.reconcile()) == []
    shadow = other_gateway(other, mode="shadow")
    placed = len(other.orders)
    assert reports(shadow.submit(on(other, intent(200))))[-1].status == "shadow"
    tiny = reports(shadow.submit(on(other, intent(201, qty=0.000001))))[-1]  # below the market's step
    assert tiny.status == "rejected" and "minimum amount" in tiny.reason
    assert len(other.orders) == placed  # shadow places nothing (neither has a test-order endpoint)


def test_okx_keys_and_passphrase_never_reach_an_output(caplog):
    from tests.exchange_imitation import OkxImitation

    caplog.set_level(logging.DEBUG)
    im = OkxImitation(KEY[:32], SECRET[:32], PASSPHRASE)
    im.add_market("BTCUSDT", "BTC", "USDT", BOOK_BIDS, BOOK_ASKS)
    im.url, im.name, im.place = im.serve(), "okx", OTHERS["okx"].split()  # type: ignore[attr-defined]
    try:
        gw = other_gateway(im, timeout_s=0.5)
        im.fail(" ".join(im.place), "accept_then_hang")
        out = gw.submit(on(im, intent(100))) + gw.reconcile() + gw.halt(flatten=True)
    finally:
        im.close()
    text = "".join(dumps(r).decode() for r in out) + caplog.text
    assert KEY[:32] not in text and SECRET[:32] not in text and PASSPHRASE not in text


def test_trading_status_shows_the_gateway_and_halt_flatten_reaches_it(tmp_path, capsys):
    from cobflow.app.cli import main
    from cobflow.execution.control import read_commands, write_gateway_status

    write_gateway_status(tmp_path, {"mode": "live", "environment": "testnet", "run": RUN,
                                    "orders": {"filled": 3, "open": 1},
                                    "open": [{"client_id": "cf01", "symbol": "BTC-USDT", "venue": "binance",
                                              "side": "buy", "type": "limit", "qty": 0.01, "price": 49_000.0,
                                              "filled": 0.0, "status": "open"}],
                                    "positions": {"binance:BTC-USDT": 0.2997}, "balances": {"binance": {"BTC": 1.2997}}})
    assert main(["trading", "status", "--control-dir", str(tmp_path)]) == 2  # no flow beside it
    out = capsys.readouterr().out
    assert "gateway (live on testnet, run live-test" in out and "3 filled" in out and "1 open" in out
    assert "open at binance: cf01 BTC-USDT buy 0.01 @ 49,000.0000" in out and "position binance:BTC-USDT: 0.2997" in out
    assert main(["trading", "halt", "--flatten", "--control-dir", str(tmp_path)]) == 0
    assert "closes its positions" in capsys.readouterr().out
    assert read_commands(tmp_path)[-1]["flatten"] is True


def test_a_restored_ledger_knows_the_fees_taken_in_the_base_and_flattens_exactly(venue):
    first = gateway(venue)
    first.reconcile()
    made = reports(first.submit(intent(100, qty=0.4)))
    assert made[-1].fee_assets == {"BTC": pytest.approx(0.4 * FEE_RATE)}
    second = gateway(venue)  # a restart: the ledger from the reports topic
    second.restore(loads(dumps(r)) for r in made)  # type: ignore[misc]
    second.reconcile()
    second.halt(flatten=True)
    assert venue.balances["BTC"] == pytest.approx(1.0)  # 0.3996 held, 0.3996 sold: not 0.4


def test_gateway_rows_wait_for_questdb_without_holding_up_anything(caplog):
    from cobflow.app.runflow import free_ports
    from cobflow.app.trade import RowsOut
    from cobflow.config import load_settings

    (port,) = free_ports(1)  # nothing listens there: QuestDB is away
    settings = load_settings(questdb={"http_port": port, "host": "127.0.0.1"})
    rows = RowsOut(settings, limit=3)
    started = time.monotonic()
    report = ExecutionReport(run=RUN, client_id="cf1", symbol="BTC-USDT", venue="binance", status="filled", side="buy",
                             type="market", qty=1.0, price=None, filled=1.0, notional=100.0, ts_ns=1)
    rows.put([replace(report, ts_ns=i) for i in range(5)])  # put returns at once
    assert time.monotonic() - started < 0.1
    time.sleep(2.5)
    rows.close()
    assert "gateway rows wait for QuestDB" in caplog.text and "2 oldest gateway rows dropped" in caplog.text


# -- a linear perpetual (Bybit): shorts, the realized PnL in the quote, reduce-only flatten ------------

def test_a_bybit_perpetual_goes_short_flips_and_flattens_and_the_ledger_follows_the_venue(caplog):
    from tests.exchange_imitation import BybitImitation

    im = BybitImitation(KEY[:18], SECRET[:36], balances={"USDT": 100_000.0})
    im.add_market("BTCUSDT.P", "BTC", "USDT", [(49_990.0, 10.0)], [(50_010.0, 10.0)], tick=0.1, step=0.001,
                  linear=True)
    im.url, im.name = im.serve(), "bybit"  # type: ignore[attr-defined]
    try:
        from pydantic import SecretStr

        trading = TradingSettings(mode="live", endpoints={"bybit": im.url})  # type: ignore[attr-defined]
        client = client_for("bybit", VenueKeys(api_key=SecretStr(KEY[:18]), secret=SecretStr(SECRET[:36])), trading)
        gw = Gateway(RUN, "live", {"bybit": client}, {("bybit", "BTC/USDT:USDT"): "BTC-USDT"}, sleep=Sleeps())
        gw.reconcile()
        perp = "BTC/USDT:USDT"
        short = OrderIntent(run=RUN, client_id=client_order_id(RUN, "BTC-USDT", 100, 0), symbol="BTC-USDT",
                            venue="bybit", market=perp, action="place", side="sell", type="market", qty=0.3)
        assert reports(gw.submit(short))[-1].status == "filled"  # a short: no base to hold on a perpetual
        im.set_book("BTCUSDT.P", [(48_990.0, 10.0)], [(49_010.0, 10.0)])
        flip = replace(short, client_id=client_order_id(RUN, "BTC-USDT", 101, 0), side="buy", qty=0.5)
        assert reports(gw.submit(flip))[-1].status == "filled"  # buys 0.3 back (+1,000 x 0.3) and 0.2 long
        assert gw.positions()[("bybit", "BTC-USDT")] == pytest.approx(0.2)
        assert diffs(gw.reconcile()) == []  # the venue's position and USDT are the ledger's
        fees = FEE_RATE * (0.3 * 49_990 + 0.5 * 49_010)
        assert im.balances["USDT"] == pytest.approx(100_000 + 0.3 * (49_990 - 49_010) - fees)
        out = gw.halt(flatten=True)
        assert im.positions["BTCUSDT.P"][0] == pytest.approx(0.0)
        assert im.orders[max(im.orders)].reduce_only  # the kill switch's order may only shrink
        assert any(isinstance(e, GatewayEvent) and e.rule == "flatten" and e.action == "sell 0.2 at market"
                   for e in out)
        assert diffs(gw.reconcile()) == []
    finally:
        im.close()


def test_a_symbol_trades_its_venue_market_or_that_markets_perpetual():
    from cobflow.app.trade import markets_of
    from cobflow.settings.symbols import SymbolsConfig

    cfg = SymbolsConfig.model_validate({"symbols": {
        "BTC-USD": {"bucket": 1, "venues": {"binance": "BTC-USDT", "bybit": "BTC-USDT"}},
        "ETH-USD": {"bucket": 1, "venues": {"bybit": "ETH-USDT"},
                    "trading": {"route": "bybit", "instrument": "perpetual"}}}})
    assert markets_of(cfg, "binance") == {("binance", "BTC/USDT"): "BTC-USD", ("bybit", "ETH/USDT:USDT"): "ETH-USD"}


def test_with_senders_a_hung_placement_holds_up_only_its_own_order(venue):
    from pydantic import SecretStr

    trading = TradingSettings(mode="live", endpoints={"binance": venue.url}, request_timeout_s=2.0)
    main = client_for("binance", VenueKeys(api_key=SecretStr(KEY), secret=SecretStr(SECRET)), trading)
    gw = Gateway(RUN, "live", {"binance": main}, {("binance", "BTC/USDT"): "BTC-USDT"}, sleep=Sleeps(),
                 senders={"binance": [main.sender(), main.sender()]})
    venue.fail("POST /api/v3/order", "accept_then_hang")  # the first to arrive: taken, never answered
    started = time.monotonic()
    first, second = intent(100, qty=0.1), intent(101, qty=0.2)
    assert [r.status for r in reports(gw.submit(first) + gw.submit(second))] == ["unknown", "unknown"]
    filled: dict[str, float] = {}
    while time.monotonic() - started < 8 and len(filled) < 2:
        for r in reports(gw.poll()):
            if r.status == "filled":
                filled[r.client_id] = time.monotonic() - started
        time.sleep(0.05)
    # the two senders raced: one order hung (its sender timed out after 2 s, then a query by
    # client id found it filled), the other was answered at once
    fast, slow = sorted(filled.values())
    assert len(filled) == 2 and fast < 1.0 and slow >= 2.0
    assert sorted(o.client_id for o in venue.orders.values()) == sorted([first.client_id, second.client_id])


def test_a_second_halt_does_not_close_again_what_a_close_on_its_way_will_close(venue):
    gw = gateway(venue)
    gw.reconcile()
    gw.submit(intent(100, qty=0.4))
    venue.fail("POST /api/v3/order", "503")  # the close is not taken; its outcome is unknown for now
    gw.halt(flatten=True)
    posts = venue.count("POST", "/api/v3/order")
    gw.halt(flatten=True)  # the operator presses again: the unknown close still counts
    assert venue.count("POST", "/api/v3/order") == posts
    gw.poll()
    gw.poll()  # three "no such order": the close never reached the venue
    gw.halt(flatten=True)  # now it is sent again, once
    assert venue.count("POST", "/api/v3/order") == posts + 1
    assert venue.balances["BTC"] == pytest.approx(1.0)


def test_live_places_no_stale_decision_but_adopts_one_the_venue_already_has(venue):
    now = int(time.time())
    gw = gateway(venue)
    gw.max_age_s = 30.0
    old = intent(now - 3600, qty=0.1)  # a flow replaying an hour-old market decided it
    [r] = reports(gw.submit(old))
    assert r.status == "rejected" and "stale decision" in r.reason and venue.orders == {}
    fresh = intent(now, qty=0.1)
    assert reports(gw.submit(fresh))[-1].status == "filled"
    again = gateway(venue)  # after a restart an old intent read again is looked up, not refused
    again.max_age_s = 30.0
    assert reports(again.submit(replace(fresh, decided_s=now - 3600), recovering=True))[-1].status == "filled"
    assert len(venue.orders) == 1
