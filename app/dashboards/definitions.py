"""The three cobflow dashboards. `cobflow dashboards build` writes them to grafana/dashboards/.

SQL is QuestDB's dialect with Grafana's PostgreSQL macros: `$__timeGroupAlias(ts, $__interval)`
groups rows into the panel's interval, `$__timeFilter(ts)` keeps the dashboard's range.
Tables are named without a prefix; `validate` and `push` apply COBFLOW_QUESTDB__TABLE_PREFIX.
"""

from __future__ import annotations

from typing import Any

from cobflow.app.dashboards.model import Dashboard, target
from cobflow.metrics.cob import OFFSETS
from cobflow.metrics.trades import TIMEFRAMES
from cobflow.operators.cob import MA_OFFSETS

GROUP = "$__timeGroupAlias(ts, $__interval)"
IN_RANGE = "$__timeFilter(ts)"
SYMBOL = f"symbol = '$symbol' AND {IN_RANGE}"
RUN_TAG = "run = '$run'"  # the Trading dashboard's account run
RUN = f"{RUN_TAG} AND {IN_RANGE}"


def _series(*columns: str, table: str, where: str = SYMBOL, agg: str = "last") -> str:
    cols = ", ".join(f"{agg}({c}) AS {c}" for c in columns)
    return f"SELECT {GROUP}, {cols} FROM {table} WHERE {where} GROUP BY 1 ORDER BY 1"


def _timeseries(custom: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "showPoints": "never",
            "spanNulls": False, **(custom or {})}


def _latest(d: Dashboard, title: str, columns: str, table: str, where: str, limit: int = 50, w: int = 12,
            h: int = 9, may_be_empty: str | None = None) -> None:
    """A table panel of the newest rows."""
    d.panel("table", title, [target(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY ts DESC LIMIT {limit}",
                                    fmt="table", may_be_empty=may_be_empty)], w=w, h=h)


def _counts(d: Dashboard, title: str, what: str, table: str, where: str, w: int,
            may_be_empty: str | None = None) -> None:
    """A horizontal bar per value of `what` (an SQL expression), the 20 most frequent."""
    d.panel("barchart", title, [target(f"SELECT {what} AS what, count() AS n FROM {table} WHERE {where} "
                                       f"GROUP BY 1 ORDER BY 2 DESC LIMIT 20", fmt="table", may_be_empty=may_be_empty)],
            w=w, options={"xField": "what", "orientation": "horizontal"})


def consolidated_book() -> Dashboard:
    d = Dashboard("cobflow-cob", "cobflow / Consolidated order book",
                  "The consolidated book of every configured venue, bucketed once a second around the mid.")
    d.query_variable("symbol", "Symbol", "SELECT DISTINCT symbol FROM cob_summary ORDER BY symbol")
    d.custom_variable("bucket", "Imbalance bucket", [str(o) for o in MA_OFFSETS], "0")

    heat_cols = ", ".join(
        f"avg(CASE WHEN \"offset\" = {o} THEN ask_qty - bid_qty END) AS \"{o}\"" for o in map(int, OFFSETS))
    d.panel("heatmap", "Liquidity by price bucket: asks above 0, bids below 0 (qty, ask - bid)",
            [target(f"SELECT {GROUP}, {heat_cols} FROM cob_buckets WHERE {SYMBOL} GROUP BY 1 ORDER BY 1")],
            w=24, h=12,
            description="Rows: bucket offset from the mid's bucket (-20..20); one bucket is the "
                        "symbol's bucket size. Blue: bid quantity, red: ask quantity.",
            options={"calculate": False, "cellGap": 0, "rowsFrame": {"layout": "auto"},
                     "yAxis": {"axisPlacement": "left", "axisLabel": "bucket offset"},
                     "color": {"mode": "scheme", "scheme": "RdBu", "steps": 64, "reverse": True},
                     "tooltip": {"mode": "single", "yHistogram": False}, "legend": {"show": True}})
    d.panel("timeseries", "Mid, microprice, best bid and ask",
            [target(_series("best_bid", "best_ask", "mid", "microprice", table="cob_summary"))],
            w=16, custom=_timeseries())
    d.panel("timeseries", "Spread (bps)", [target(_series("spread_bps", table="cob_summary", agg="avg"))],
            w=8, unit="none", custom=_timeseries())
    d.panel("timeseries", "Imbalance moving averages, bucket $bucket",
            [target(_series("ma_1", "ma_5", "ma_15", "ma_60", table="imbalance_ma",
                            where=f"{SYMBOL} AND \"offset\" = $bucket"))],
            w=8, description="(bid - ask) / (bid + ask) of one bucket, averaged over 1/5/15/60 s.",
            custom=_timeseries(), min=-1, max=1)
    d.panel("timeseries", "Whole-book liquidity imbalance",
            [target(_series("liquidity_imbalance", "li_ma_1", "li_ma_5", "li_ma_15", "li_ma_60",
                            table="cob_summary"))],
            w=8, custom=_timeseries())
    d.panel("timeseries", "Venues in the book",
            [target(_series("venues", table="cob_summary", agg="min"))],
            w=8, description="Synced venues that contributed to the second (fewest in each interval).",
            custom=_timeseries({"drawStyle": "bars", "fillOpacity": 60}))
    d.panel("barchart", "The book now: quantity per bucket",
            [target(f"SELECT \"offset\", bid_qty, ask_qty FROM cob_buckets WHERE {SYMBOL} "
                    f"LATEST ON ts PARTITION BY \"offset\" ORDER BY \"offset\"", fmt="table")],
            w=24, h=8, description="The last second in the range.",
            options={"xField": "offset", "orientation": "vertical", "stacking": "none",
                     "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"}})
    _indicator_panels(d)
    return d


def _indicator_panels(d: Dashboard) -> None:
    """FEATURES.md's indicators and pivots of the ALL bars, in the timeframe picked above them."""
    d.custom_variable("timeframe", "Indicators and pivots: timeframe", list(TIMEFRAMES), "1s")
    tf = f"{SYMBOL} AND timeframe = '$timeframe'"
    close = target(f"SELECT ts AS \"time\", close FROM ohlcv WHERE {tf} AND venue = 'ALL' ORDER BY ts", ref="A")
    d.panel("timeseries", "Bollinger bands 20/2 over the close ($timeframe, all venues)",
            [close, target(f"SELECT ts AS \"time\", bb_upper, bb_middle, bb_lower, sma_20, ema_12, ema_26 "
                           f"FROM indicators WHERE {tf} ORDER BY ts", ref="B")],
            w=16, h=9, custom=_timeseries(),
            description="TA-Lib's BBANDS, SMA and EMA of the closed ALL bars (null during the warm-up).")
    d.panel("timeseries", "RSI 14 ($timeframe)",
            [target(f"SELECT ts AS \"time\", rsi_14 FROM indicators WHERE {tf} ORDER BY ts")],
            w=8, h=9, custom=_timeseries(), min=0, max=100,
            thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 30},
                        {"color": "green", "value": 70}])
    d.panel("timeseries", "MACD 12/26/9 ($timeframe)",
            [target(f"SELECT ts AS \"time\", macd, macd_signal, macd_hist FROM indicators WHERE {tf} ORDER BY ts")],
            w=12, custom=_timeseries(),
            overrides=[{"matcher": {"id": "byName", "options": "macd_hist"},
                        "properties": [{"id": "custom.drawStyle", "value": "bars"},
                                       {"id": "custom.fillOpacity", "value": 60}]}])
    d.panel("timeseries", "ATR 14 and OBV ($timeframe)",
            [target(f"SELECT ts AS \"time\", atr_14, obv FROM indicators WHERE {tf} ORDER BY ts")],
            w=12, custom=_timeseries(),
            overrides=[{"matcher": {"id": "byName", "options": "obv"},
                        "properties": [{"id": "custom.axisPlacement", "value": "right"}]}])
    pivots = ("SELECT ts AS \"time\", 'level ' || level || ' ' || kind AS metric, price FROM pivots "
              f"WHERE {tf} ORDER BY ts")
    d.panel("timeseries", "Pivots on the price ($timeframe): one series per level and kind",
            [close, target(pivots, ref="B")], w=24, h=10,
            custom=_timeseries({"spanNulls": True}),
            description="Williams pivots, levels 1-5, at the pivot bar (shown once confirmed: the row is "
                        "written at its confirmation, never revised).",
            overrides=[{"matcher": {"id": "byRegexp", "options": "^level .*"},
                        "properties": [{"id": "custom.drawStyle", "value": "points"},
                                       {"id": "custom.pointSize", "value": 7},
                                       {"id": "custom.showPoints", "value": "always"}]}])


def market() -> Dashboard:
    d = Dashboard("cobflow-market", "cobflow / Market: candles and order flow",
                  "OHLCV bars per venue (or ALL venues), volume by aggressor side, aggressive-buy ratio and CVD.",
                  time_from="now-1h")
    d.query_variable("symbol", "Symbol", "SELECT DISTINCT symbol FROM ohlcv ORDER BY symbol")
    d.query_variable("venue", "Venue", "SELECT DISTINCT venue FROM ohlcv WHERE symbol = '$symbol' ORDER BY venue")
    d.custom_variable("timeframe", "Timeframe", list(TIMEFRAMES), "1m")
    bars = f"FROM ohlcv WHERE {SYMBOL} AND venue = '$venue' AND timeframe = '$timeframe' ORDER BY ts"
    d.panel("candlestick", "$symbol $timeframe candles ($venue)",
            [target(f"SELECT ts AS \"time\", open, high, low, close, volume {bars}")],
            w=24, h=11, options={"mode": "candles+volume", "candleStyle": "candles",
                                 "colorStrategy": "open-close", "includeAllFields": False})
    d.panel("timeseries", "Volume by aggressor: buys up, sells down",
            [target(f"SELECT ts AS \"time\", buy_volume, -sell_volume AS sell_volume {bars}")],
            w=12, custom=_timeseries({"drawStyle": "bars", "fillOpacity": 70}))
    d.panel("timeseries", "Trades per bar and VWAP",
            [target(f"SELECT ts AS \"time\", trades, vwap {bars}")], w=12, custom=_timeseries(),
            overrides=[{"matcher": {"id": "byName", "options": "trades"},
                        "properties": [{"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "custom.drawStyle", "value": "bars"}]}])
    flow = f"{SYMBOL} AND venue = '$venue'"
    d.panel("timeseries", "Aggressive-buy ratio (1 s)",
            [target(_series("aggressive_buy_ratio", table="order_flow", where=flow, agg="avg"))],
            w=12, custom=_timeseries(), min=0, max=1)
    d.panel("timeseries", "Cumulative volume delta",
            [target(_series("cvd", table="order_flow", where=flow))], w=12, custom=_timeseries())
    return d


def pipeline_health() -> Dashboard:
    d = Dashboard("cobflow-health", "cobflow / Pipeline health",
                  "Rows written, consumer lag, venue book sync, sequence gaps, resyncs, checksum failures, dead letters.")
    d.query_variable("venue", "Venue", "SELECT DISTINCT venue FROM book_health ORDER BY venue", multi=True)
    venues = f"venue IN ($venue) AND {IN_RANGE}"
    per_table = [
        target(f"SELECT {GROUP}, count() * 1000.0 / $__interval_ms AS {t} FROM {t} "
               f"WHERE {IN_RANGE} GROUP BY 1 ORDER BY 1", ref=chr(ord("A") + i))
        for i, t in enumerate(("cob_summary", "cob_buckets", "imbalance_ma", "ohlcv", "order_flow", "book_health",
                               "data_quality", "indicators", "pivots", "features"))
    ]
    d.panel("timeseries", "Rows per second by table", per_table, w=12, unit="rowsps",
            description="By the rows' own timestamps: in a replay, rows per second of market time.",
            custom=_timeseries())
    d.panel("timeseries", "Data quality per symbol (worst second of each interval)",
            [target(f"SELECT {GROUP}, symbol AS metric, min(quality) AS quality FROM data_quality "
                    f"WHERE {IN_RANGE} GROUP BY 1, 2 ORDER BY 1", ref="A"),
             target(f"SELECT {GROUP}, symbol || ' completeness' AS metric, min(completeness) AS completeness "
                    f"FROM data_quality WHERE {IN_RANGE} GROUP BY 1, 2 ORDER BY 1", ref="B"),
             target(f"SELECT {GROUP}, symbol || ' freshness' AS metric, min(freshness) AS freshness "
                    f"FROM data_quality WHERE {IN_RANGE} GROUP BY 1, 2 ORDER BY 1", ref="C")],
            w=24, h=8, min=0, max=1, custom=_timeseries({"lineInterpolation": "stepAfter"}),
            description="quality = completeness (synced venues / configured) x freshness (venues heard from "
                        "in the last 5 s / configured). Below min_quality (0.5) no model runs and no "
                        "exposure is added.",
            thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 0.5}])
    d.panel("timeseries", "Consumer lag (messages behind, worst partition per topic)",
            [target(f"SELECT {GROUP}, topic AS metric, max(lag) AS lag FROM consumer_lag "
                    f"WHERE {IN_RANGE} GROUP BY 1, 2 ORDER BY 1")],
            w=12, custom=_timeseries(),
            description="Measured by the dataflow itself, at most once a second per partition.")
    d.panel("state-timeline", "Book in sync, per venue market",
            [target(f"SELECT {GROUP}, venue || ' ' || market AS metric, min(cast(synced AS int)) AS synced "
                    f"FROM book_health WHERE {venues} GROUP BY 1, 2 ORDER BY 1")],
            w=24, h=7, description="1: synced for the whole interval; 0: out of sync at some point.",
            custom={"fillOpacity": 80, "lineWidth": 0},
            mappings=[{"type": "value", "options": {"0": {"text": "out of sync", "color": "red"},
                                                    "1": {"text": "synced", "color": "green"}}}])
    for column, title in (("gaps", "Sequence gaps"), ("resyncs", "Resyncs"),
                          ("checksum_failures", "Checksum failures")):
        d.panel("timeseries", f"{title} (since the flow started)",
                [target(f"SELECT {GROUP}, venue || ' ' || market AS metric, max({column}) AS {column} "
                        f"FROM book_health WHERE {venues} GROUP BY 1, 2 ORDER BY 1")],
                w=8, custom=_timeseries({"drawStyle": "line", "lineInterpolation": "stepAfter"}))
    d.panel("stat", "Dead letters in range",
            [target(f"SELECT count() AS dead_letters FROM dead_letters WHERE {venues}", fmt="table")],
            w=6, options={"reduceOptions": {"calcs": ["lastNotNull"], "values": False},
                          "colorMode": "background", "graphMode": "none"},
            description="Malformed frames, sequence gaps and checksum failures: the whole message is "
                        "in the dlq Kafka topic.")
    d.panel("timeseries", "Dead letters by stage",
            [target(f"SELECT {GROUP}, stage AS metric, count() AS dead_letters FROM dead_letters "
                    f"WHERE {venues} GROUP BY 1, 2 ORDER BY 1")],
            w=18, custom=_timeseries({"drawStyle": "bars", "fillOpacity": 70}))
    d.panel("table", "Book counters now, per venue market",
            [target(f"SELECT venue, market, synced, snapshots, updates, gaps, checksum_checks, "
                    f"checksum_failures, resyncs, malformed FROM book_health WHERE {venues} "
                    f"LATEST ON ts PARTITION BY venue, market ORDER BY venue, market", fmt="table")],
            w=12, h=9)
    d.panel("table", "Latest dead letters",
            [target(f"SELECT ts, venue, market, stage, reason FROM dead_letters WHERE {venues} "
                    f"ORDER BY ts DESC LIMIT 100", fmt="table")],
            w=12, h=9)
    return d


def models() -> Dashboard:
    d = Dashboard("cobflow-models", "cobflow / Models: predictions, outcomes, decisions",
                  "What the models and rule signals said, how it turned out, and what the decision maker did.")
    d.query_variable("symbol", "Symbol", "SELECT DISTINCT symbol FROM decisions ORDER BY symbol")
    d.panel("timeseries", "Rolling accuracy per source (last 100 scored predictions)",
            [target(f"SELECT {GROUP}, source AS metric, last(rolling_accuracy) AS accuracy FROM prediction_outcomes "
                    f"WHERE {SYMBOL} GROUP BY 1, 2 ORDER BY 1")],
            w=12, min=0, max=1, custom=_timeseries({"lineInterpolation": "stepAfter"}),
            description="Each prediction is scored once its horizon has passed: a hit when the mid moved its "
                        "way (flat: within the dead zone). The decision maker weighs each source by this.")
    d.panel("timeseries", "Confidence vs realized return (bps)",
            [target(f"SELECT ts AS \"time\", confidence * direction AS signed_confidence, realized_return_bps "
                    f"FROM prediction_outcomes WHERE {SYMBOL} AND source = 'cnn' ORDER BY ts")],
            w=12, custom=_timeseries({"drawStyle": "points", "pointSize": 3}),
            overrides=[{"matcher": {"id": "byName", "options": "realized_return_bps"},
                        "properties": [{"id": "custom.axisPlacement", "value": "right"}]}])
    d.panel("timeseries", "CNN direction probabilities",
            [target(f"SELECT ts AS \"time\", probabilities[1] AS p_down, probabilities[2] AS p_flat, "
                    f"probabilities[3] AS p_up FROM model_outputs WHERE {SYMBOL} AND model_type = 'cnn' ORDER BY ts")],
            w=12, min=0, max=1, custom=_timeseries())
    d.panel("timeseries", "Decisions: combined score (BUY above the threshold, SELL below minus it)",
            [target(_series("score", table="decisions", agg="avg"))], w=12, min=-1, max=1, custom=_timeseries())
    _counts(d, "Decisions by action and reason in range",
            "action || ' ' || coalesce(split_part(reason, ' ', 1), '')", "decisions", SYMBOL, w=12)
    _latest(d, "Latest decisions", "ts, symbol, action, confidence, score, source, reason", "decisions", SYMBOL)
    _latest(d, "Latest rule signals", "ts, symbol, kind, direction, strength, value, threshold, detail", "signals",
            IN_RANGE, w=24, h=8)
    _learning_panels(d)
    return d


LEARNER = "only once `cobflow learn` has judged a challenger (or the flow swapped a checkpoint)"


def _learning_panels(d: Dashboard) -> None:
    """The loop of `cobflow learn`: what ran when, the verdicts with both scores, drift."""
    d.panel("timeseries", "Running checkpoint per kind (model_outputs rows of $symbol per interval)",
            [target(f"SELECT {GROUP}, model_type || ' ' || model_name AS metric, count() AS n FROM model_outputs "
                    f"WHERE {SYMBOL} GROUP BY 1, 2 ORDER BY 1")],
            w=12, custom=_timeseries({"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal"}}),
            description="Each colour is a checkpoint: a promoted one takes over at a second boundary, "
                        "without a restart (decisions rows name the checkpoints they heard).")
    d.panel("timeseries", "Held-out accuracy at each verdict: challenger vs champion",
            [target(f"SELECT ts AS \"time\", kind || ' challenger' AS metric, challenger_score AS accuracy "
                    f"FROM model_events WHERE source = 'learner' AND challenger_score IS NOT NULL AND {IN_RANGE} "
                    "ORDER BY ts", may_be_empty=LEARNER),
             target(f"SELECT ts AS \"time\", kind || ' champion' AS metric, champion_score AS accuracy "
                    f"FROM model_events WHERE source = 'learner' AND champion_score IS NOT NULL AND {IN_RANGE} "
                    "ORDER BY ts", ref="B", may_be_empty=LEARNER)],
            w=12, min=0, max=1, custom=_timeseries({"drawStyle": "points", "pointSize": 6}),
            description="Both on the same latest held-out seconds the challenger never trained on; promoted "
                        "only when a one-sided paired test says the challenger is better (p in the table).")
    d.panel("timeseries", "Rolling accuracy of the cnn, every symbol (drift below the floor triggers a retrain)",
            [target(f"SELECT {GROUP}, symbol AS metric, last(rolling_accuracy) AS accuracy FROM prediction_outcomes "
                    f"WHERE source = 'cnn' AND {IN_RANGE} GROUP BY 1, 2 ORDER BY 1")],
            w=12, min=0, max=1, custom=_timeseries({"lineInterpolation": "stepAfter"}))
    _counts(d, "Model events in range", "kind || ' ' || event", "model_events", IN_RANGE, w=12, may_be_empty=LEARNER)
    _latest(d, "Promotions, refusals, swaps and drift", "ts, kind, event, source, checkpoint, running, "
            "challenger_score, champion_score, labels, p_value, reason", "model_events", IN_RANGE, w=24, h=9,
            may_be_empty=LEARNER)


def trading() -> Dashboard:
    d = Dashboard("cobflow-trading", "cobflow / Trading: paper account, fills, risk, live orders",
                  "The paper account of the strategy flow (EXECUTION.md): equity, positions, fills on the "
                  "price, fees and the risk manager's events; in shadow and live modes the gateway's orders at "
                  "the venues, its latencies, reconciliation and the venues' balances.")
    # the account's runs (`paper` live, each backtest of the raw topics under its id), and the
    # symbols traded (a position or a fill)
    d.query_variable("run", "Run", "SELECT run FROM (SELECT DISTINCT run FROM equity UNION "
                                   "SELECT DISTINCT run FROM live_orders) ORDER BY run")
    d.query_variable("symbol", "Symbol", "SELECT symbol FROM (SELECT DISTINCT symbol FROM positions UNION "
                                         "SELECT DISTINCT symbol FROM live_orders) ORDER BY symbol")
    d.panel("timeseries", "Equity and drawdown",
            [target(_series("equity", "drawdown", table="equity", where=RUN))],
            w=16, custom=_timeseries(),
            description="equity = cash + every position at its symbol's mid (the last known one); drawdown = "
                        "(peak - equity) / peak, on the right axis.",
            overrides=[{"matcher": {"id": "byName", "options": "drawdown"},
                        "properties": [{"id": "custom.axisPlacement", "value": "right"},
                                       {"id": "unit", "value": "percentunit"},
                                       {"id": "custom.fillOpacity", "value": 30},
                                       {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]}])
    d.panel("stat", "Account now",
            [target(f"SELECT equity, cash, exposure, drawdown, halted FROM equity WHERE {RUN} "
                    f"ORDER BY ts DESC LIMIT 1", fmt="table")],
            w=8, options={"reduceOptions": {"calcs": ["lastNotNull"], "values": False, "fields": ""},
                          "colorMode": "value", "graphMode": "none"},
            description="halted: the kill switch (cobflow trading status | halt | resume).")
    d.panel("timeseries", "Position per symbol",
            [target(f"SELECT {GROUP}, symbol AS metric, last(position) AS position FROM positions "
                    f"WHERE {RUN} GROUP BY 1, 2 ORDER BY 1")],
            w=12, custom=_timeseries({"lineInterpolation": "stepAfter"}))
    d.panel("timeseries", "PnL of $symbol: realized, unrealized, fees (cumulative)",
            [target(_series("realized", "unrealized", "fees", table="positions", where=f"{SYMBOL} AND {RUN_TAG}"))],
            w=12, custom=_timeseries({"lineInterpolation": "stepAfter"}))
    mid = target(f"SELECT ts AS \"time\", mid FROM cob_summary WHERE {SYMBOL} ORDER BY ts", ref="A")
    fills = target(f"SELECT ts AS \"time\", side || ' ' || coalesce(liquidity, 'taker') || ' ' || venue AS metric, "
                   f"price FROM fills WHERE {SYMBOL} AND {RUN_TAG} ORDER BY ts", ref="B")
    resting = target(f"SELECT ts AS \"time\", 'resting ' || side AS metric, price FROM orders WHERE {SYMBOL} AND "
                     f"{RUN_TAG} AND type = 'limit' AND status IN ('new', 'open', 'partially_filled') ORDER BY ts",
                     ref="C", may_be_empty="only strategies that send limit orders (maker) rest any")
    d.panel("timeseries", "Fills and resting orders of $symbol on the mid (by side, liquidity and venue)",
            [mid, fills, resting], w=24, h=10, custom=_timeseries({"spanNulls": True}),
            description="Each fill is one venue slice of a market order (taker, at S+1 for a decision at S) or "
                        "a resting limit order's fill (maker, at its price); 'resting' marks a limit order's "
                        "price at each second its state changed while it rested (EXECUTION.md).",
            overrides=[{"matcher": {"id": "byRegexp", "options": "^(buy|sell|resting) .*"},
                        "properties": [{"id": "custom.drawStyle", "value": "points"},
                                       {"id": "custom.pointSize", "value": 8},
                                       {"id": "custom.showPoints", "value": "always"}]},
                       {"matcher": {"id": "byRegexp", "options": "^buy .*"},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}}]},
                       {"matcher": {"id": "byRegexp", "options": "^sell .*"},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]},
                       {"matcher": {"id": "byRegexp", "options": "^resting .*"},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "yellow"}},
                                       {"id": "custom.pointSize", "value": 5}]}])
    d.panel("barchart", "Fees by venue and liquidity in range",
            [target(f"SELECT venue || ' ' || coalesce(liquidity, 'taker') AS venue, sum(fee) AS fees, "
                    f"sum(qty * price) AS notional, count() AS fills FROM fills WHERE {RUN} GROUP BY 1 ORDER BY 1",
                    fmt="table")],
            w=8, options={"xField": "venue", "orientation": "vertical"},
            description="taker: market orders and crossing limit orders; maker: resting limit orders (the "
                        "venue's maker_fee_bps, negative a rebate).")
    _counts(d, "Risk events by rule and action in range", "rule || ' ' || action", "risk_events", RUN, w=8)
    _latest(d, "Orders of $symbol", "ts, order_id, type, side, price, qty, filled, avg_price, fee, status, venue, "
            "reason", "orders",
            f"{SYMBOL} AND {RUN_TAG}", w=8, h=8)
    _latest(d, "Latest risk events", "ts, symbol, rule, action, value, threshold, qty_before, qty_after, detail",
            "risk_events", RUN)
    _latest(d, "Latest decisions of $symbol", "ts, action, confidence, score, source, reason", "decisions",
            f"{SYMBOL} AND {RUN_TAG}")
    _live_panels(d)
    return d


LIVE = "only in shadow and live modes, while `cobflow trade` runs (docs/live-trading.md)"


def _live_panels(d: Dashboard) -> None:
    """The gateway's orders at the venues (`cobflow trade`): states, latencies, reconciliation,
    balances."""
    d.panel("barchart", "Live orders by state (each order's latest) in range",
            [target(f"SELECT status AS what, count() AS n FROM (SELECT client_id, status FROM live_orders "
                    f"WHERE {RUN} LATEST ON ts PARTITION BY client_id) GROUP BY 1 ORDER BY 2 DESC",
                    fmt="table", may_be_empty=LIVE)],
            w=8, options={"xField": "what", "orientation": "horizontal"},
            description="unknown: sent, no answer yet (queried by client id); shadow: validated at the venue, "
                        "not placed.")
    d.panel("timeseries", "Decision -> send -> venue answer (ms)",
            [target(f"SELECT {GROUP}, avg(sent_ms) AS to_send, avg(ack_ms) AS to_answer, max(ack_ms) AS "
                    f"to_answer_max FROM live_orders WHERE {RUN} AND ack_ms IS NOT NULL GROUP BY 1 ORDER BY 1",
                    may_be_empty=LIVE)],
            w=8, custom=_timeseries({"drawStyle": "points", "showPoints": "always"}),
            description="From the account's decision (wall clock) to the gateway's send and to the venue's "
                        "first answer: the orders topic, the gateway, the network and the venue.")
    d.panel("timeseries", "Venue balances (each reconciliation)",
            [target(f"SELECT {GROUP}, venue || ' ' || asset AS metric, last(total) AS total FROM venue_balances "
                    f"WHERE {RUN} GROUP BY 1, 2 ORDER BY 1", may_be_empty=LIVE)],
            w=8, custom=_timeseries({"lineInterpolation": "stepAfter"}))
    _latest(d, "Live orders of $symbol", "ts, client_id, venue, type, side, price, qty, filled, avg_price, fee, "
            "status, ack_ms, reason", "live_orders", f"{SYMBOL} AND {RUN_TAG}", w=16, h=8, may_be_empty=LIVE)
    d.panel("table", "Reconciliation differences (the venue wins)",
            [target(f"SELECT ts, venue, what, item, ours, venue_says, action FROM reconciliation WHERE {RUN} "
                    f"ORDER BY ts DESC LIMIT 50", fmt="table",
                    may_be_empty="only where the gateway's ledger and a venue differed")],
            w=8, h=8)


DASHBOARDS = {"cob": consolidated_book, "market": market, "health": pipeline_health, "models": models,
              "trading": trading}


def build_all() -> dict[str, dict[str, Any]]:
    """File name (without .json) -> dashboard JSON."""
    return {f"cobflow-{name}": make().to_json() for name, make in DASHBOARDS.items()}
