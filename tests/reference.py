"""A deliberately naive model of the walking skeleton, written from the Binance docs and
METRICS.md without using cobflow's code: plain dicts, max()/min() scans, json.loads.

It only has to be obviously right, not fast. Tests compare the real pipeline against it.
"""

from __future__ import annotations

import json

NS = 1_000_000_000


def _split(sym: str) -> str:
    for quote in ("USDT", "EUR", "ETH", "BTC"):
        if sym.endswith(quote):
            return sym[: -len(quote)] + "-" + quote
    raise AssertionError(f"reference does not know {sym}")


def top_of_book_rows(messages: list[dict]) -> dict[tuple[str, int], tuple]:
    """{(market, second): (best_bid, bid_qty, best_ask, ask_qty)} for every second from a
    market's first message to its last, while its book is synced."""
    books: dict[str, dict] = {}
    for m in messages:  # in ts_recv order
        d = json.loads(m["payload"])
        if m["kind"] == "rest":
            market = m["symbol"]
            ev = ("snap", d["lastUpdateId"], d["bids"], d["asks"])
        else:
            d = d.get("data", d)
            if d.get("e") != "depthUpdate":
                continue
            market = _split(d["s"])
            ev = ("diff", (d["U"], d["u"]), d["b"], d["a"])
        b = books.setdefault(
            market,
            {"bids": {}, "asks": {}, "last": None, "first": False, "buffer": [], "synced": False,
             "events": []},
        )
        b["events"].append((m["ts_recv"], ev))

    rows = {}
    for market, b in books.items():
        events = b["events"]
        state = {"bids": {}, "asks": {}, "last": None, "first": False, "synced": False, "buffer": []}

        def apply_diff(U, u, bids, asks):
            if state["last"] is None:
                state["buffer"].append((U, u, bids, asks))
                return
            if u <= state["last"]:
                return
            ok = (U <= state["last"] + 1 <= u) if state["first"] else (U == state["last"] + 1)
            if not ok:
                state.update(bids={}, asks={}, last=None, synced=False)
                return
            for side, levels in (("bids", bids), ("asks", asks)):
                for p, q in levels:
                    if float(q) == 0:
                        state[side].pop(float(p), None)
                    else:
                        state[side][float(p)] = float(q)
            state["last"] = u
            state["first"] = False

        def row():
            bb = max(state["bids"]) if state["bids"] else None
            ba = min(state["asks"]) if state["asks"] else None
            return (bb, state["bids"].get(bb), ba, state["asks"].get(ba))

        first_s = events[0][0] // NS
        last_s = events[-1][0] // NS
        i = 0
        for s in range(first_s, last_s + 1):
            while i < len(events) and events[i][0] < (s + 1) * NS:
                _, ev = events[i]
                if ev[0] == "snap":
                    state["bids"] = {float(p): float(q) for p, q in ev[2] if float(q) > 0}
                    state["asks"] = {float(p): float(q) for p, q in ev[3] if float(q) > 0}
                    state.update(last=ev[1], first=True, synced=True)
                    buffered, state["buffer"] = state["buffer"], []
                    for diff in buffered:
                        apply_diff(*diff)
                else:
                    apply_diff(*ev[1], ev[2], ev[3])
                i += 1
            if state["synced"]:
                rows[(market, s)] = row()
    return rows
