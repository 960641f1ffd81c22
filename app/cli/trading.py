"""`cobflow trading status|halt|resume`: the kill switch of the paper account (EXECUTION.md
rule 1) and a look at it, through the control folder the live strategy flow polls."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err


def _when(s: int | None) -> str:
    return "-" if s is None else datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.execution.control import read_commands, read_status

    folder = args.control_dir or settings.trading.control_dir
    st = read_status(folder)
    waiting = [c for c in read_commands(folder) if st is None or c["seq"] > st.get("commands_applied", 0)]
    if st is None:
        msg = f"no strategy flow has written a status in {folder} (start one: cobflow run strategy --follow)"
        if waiting:
            msg += f"; {len(waiting)} command(s) wait for it: " + ", ".join(c["command"] for c in waiting)
        _gateway_status(folder)
        return err(msg)
    if args.json:  # full precision, for scripts: the flow's status and the commands waiting
        import json

        print(json.dumps({**st, "waiting": waiting}, indent=1, sort_keys=True))
        return 0
    age = time.time() - st.get("written_at", 0)
    state = f"HALTED by {st['halted_by']}" if st["halted"] else "trading"
    if st.get("halted_until"):
        state += f" until {_when(st['halted_until'])}"
    print(f"mode {st['mode']}: {state}; at market second {_when(st['second'])} (status {age:.0f} s old)")
    print(f"equity {st['equity']:,.2f}  cash {st['cash']:,.2f}  peak {st['peak']:,.2f}")
    positions = st.get("positions") or {}
    if positions:
        print(f"{'symbol':12s} {'position':>14s} {'avg price':>14s} {'mid':>14s} {'realized':>12s} {'fees':>10s}")
        for sym, p in positions.items():
            mid = "-" if p["mid"] is None else f"{p['mid']:,.4f}"
            print(f"{sym:12s} {p['position']:14.6f} {p['avg_price']:14.4f} {mid:>14s} {p['realized']:12.2f} "
                  f"{p['fees']:10.2f}")
    else:
        print("no positions")
    orders = st.get("orders") or []
    if orders:
        print(f"{'working order':28s} {'type':6s} {'side':4s} {'price':>14s} {'qty':>12s} {'filled':>12s} "
              f"{'status':17s} venue")
        for o in orders:
            price = "-" if o["price"] is None else f"{o['price']:,.4f}"
            print(f"{o['order_id'][:28]:28s} {o['type']:6s} {o['side']:4s} {price:>14s} {o['qty']:12.6f} "
                  f"{o['filled']:12.6f} {o['status']:17s} {o['venue'] or '-'}")
    for c in waiting:
        print(f"waiting: {c['command']} (command {c['seq']})")
    _gateway_status(folder)
    return 0


def _gateway_status(folder: Path) -> None:
    """The order gateway's side (`cobflow trade`), when one writes beside the flow."""
    from cobflow.execution.control import GATEWAY_FILE, read_status

    gw = read_status(folder, GATEWAY_FILE)
    if gw is None:
        return
    age = time.time() - gw.get("written_at", 0)
    states = ", ".join(f"{n} {s}" for s, n in sorted(gw.get("orders", {}).items())) or "no orders"
    print(f"gateway ({gw['mode']} on {gw['environment']}, run {gw['run']}, status {age:.0f} s old): {states}")
    for o in gw.get("open", []):
        price = "market" if o["price"] is None else f"{o['price']:,.4f}"
        print(f"  open at {o['venue']}: {o['client_id']} {o['symbol']} {o['side']} {o['qty']:g} @ {price} "
              f"filled {o['filled']:g} ({o['status']})")
    for key, qty in sorted(gw.get("positions", {}).items()):
        print(f"  position {key}: {qty:g}")
    for venue, assets in sorted(gw.get("balances", {}).items()):
        print(f"  {venue} balances: " + ", ".join(f"{a} {v:,.8g}" for a, v in sorted(assets.items())))


def _queue(what: str) -> object:
    from cobflow.execution.control import append_command

    def run(args: argparse.Namespace, settings: Settings) -> int:
        folder = args.control_dir or settings.trading.control_dir
        flatten = bool(getattr(args, "flatten", False))
        seq = append_command(folder, what, flatten=flatten)
        effect = "only orders that reduce a position pass" if what == "halt" else "new exposure is allowed again"
        print(f"{what} queued (command {seq} in {folder}); the running strategy flow applies it at its next "
              f"second: {effect}. Check with: cobflow trading status")
        if what == "halt":
            print("a running gateway (cobflow trade) cancels every open order of the run at the venues"
                  + (" and closes its positions with market orders" if flatten else ""))
        return 0
    return run


def cmd_trade(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.trade import main

    return main(settings, mainnet=args.mainnet, for_s=args.for_s)


def add_commands(sub: Subparsers) -> None:
    p = command(sub, "trading", "paper account: status, halt (kill switch), resume")
    tsub = p.add_subparsers(dest="trading_command", required=True, metavar="ACTION")
    for name, func, text in (("status", cmd_status, "halted or not, equity, positions, working orders, waiting "
                                                    "commands"),
                             ("halt", _queue("halt"), "kill switch: only reducing orders pass until resumed"),
                             ("resume", _queue("resume"), "lift a halt (drawdown or operator); peak equity resets")):
        c = command(tsub, name, text, func)  # type: ignore[arg-type]
        c.add_argument("--control-dir", type=Path, default=None, metavar="DIR",
                       help="the flow's control folder (default: COBFLOW_TRADING__CONTROL_DIR, .cobflow/trading)")
        if name == "status":
            c.add_argument("--json", action="store_true", help="the status as the flow wrote it, and the commands "
                           "waiting, as JSON (full precision)")
        if name == "halt":
            c.add_argument("--flatten", action="store_true", help="the gateway also closes every position of the "
                           "run at the venues with market orders")
    t = command(sub, "trade", "the order gateway: the run's order intents to the venues (shadow or live mode; "
                "testnet unless --mainnet)", cmd_trade)
    t.add_argument("--mainnet", action="store_true", help="real money: needs COBFLOW_TRADING__ENVIRONMENT=mainnet "
                   "as well")
    t.add_argument("--for", dest="for_s", type=float, default=None, metavar="SECONDS",
                   help="stop after this long (default: until Ctrl-C or SIGTERM)")
