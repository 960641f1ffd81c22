"""Dashboards as code: the files are what definitions.py builds, the model checks catch what
Grafana would reject, and the SQL is expanded the way Grafana expands it.

Macro expectations are Grafana's own documented outputs (grafana-postgresql-datasource
macros and its tests: `$__timeGroup(time_column,'5m')` -> `floor(extract(epoch from
time_column)/300)*300`, RFC 3339 UTC times in `$__timeFilter`)."""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cobflow.app.dashboards import DASHBOARD_DIR, DATASOURCE_UID
from cobflow.app.dashboards.definitions import build_all
from cobflow.app.dashboards.files import stale_dashboards
from cobflow.app.dashboards.grafana_sql import (
    GrafanaSQLError,
    TimeRange,
    Variable,
    builtin_variables,
    expand_macros,
    go_float,
    interpolate,
    panel_interval,
    round_interval,
    seconds_to_hms,
)
from cobflow.app.dashboards.validate import (
    check_model,
    check_provisioning,
    load_dashboards,
    validate,
    with_table_prefix,
)

# 2018-04-12T18:00:00Z .. 18:05:00Z, as in Grafana's macro tests
RANGE = TimeRange(1523556000000, 1523556300000)


def test_committed_dashboards_are_what_definitions_build():
    assert stale_dashboards() == [], "run: cobflow dashboards build"
    assert sorted(p.name for p in DASHBOARD_DIR.glob("*.json")) == sorted(f"{n}.json" for n in build_all())


def test_every_committed_dashboard_passes_the_model_checks():
    for name, dash in load_dashboards(DASHBOARD_DIR).items():
        assert check_model(name, dash) == []
    from cobflow.app.dashboards import DATASOURCE_FILE, PROVIDER_FILE
    assert check_provisioning(DATASOURCE_FILE, PROVIDER_FILE) == []


def test_dashboards_cover_what_users_asked_for():
    dashes = build_all()
    types = {n: {p["type"] for p in d["panels"]} for n, d in dashes.items()}
    assert {"heatmap", "timeseries", "barchart"} <= types["cobflow-cob"]
    assert "candlestick" in types["cobflow-market"]
    assert {"state-timeline", "stat", "table"} <= types["cobflow-health"]
    variables = {n: [v["name"] for v in d["templating"]["list"]] for n, d in dashes.items()}
    assert "symbol" in variables["cobflow-cob"] and {"symbol", "venue", "timeframe"} <= set(variables["cobflow-market"])
    sql = " ".join(t["rawSql"] for d in dashes.values() for p in d["panels"] for t in p["targets"])
    for table in ("cob_buckets", "cob_summary", "imbalance_ma", "ohlcv", "order_flow", "book_health",
                  "consumer_lag", "dead_letters"):
        assert f"FROM {table}" in sql, table
    heat = next(p for p in dashes["cobflow-cob"]["panels"] if p["type"] == "heatmap")
    assert heat["targets"][0]["rawSql"].count("CASE WHEN") == 41  # one column per bucket, -20..20


def test_time_filter_and_time_range_macros():
    assert expand_macros("WHERE $__timeFilter(time_column)", RANGE) == \
        "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    assert expand_macros("$__timeFrom() $__timeTo()", RANGE) == "'2018-04-12T18:00:00Z' '2018-04-12T18:05:00Z'"
    assert expand_macros("$__timeFilter(ts)", TimeRange(1523556000120, 1523556000500)) == \
        "ts BETWEEN '2018-04-12T18:00:00.12Z' AND '2018-04-12T18:00:00.5Z'"
    assert expand_macros("$__unixEpochFilter(t)", RANGE) == "t >= 1523556000 AND t <= 1523556300"
    assert expand_macros("$__time(c)", RANGE) == 'c AS "time"'


def test_time_group_macros():
    assert expand_macros("GROUP BY $__timeGroup(time_column,'5m')", RANGE) == \
        "GROUP BY floor(extract(epoch from time_column)/300)*300"
    assert expand_macros("SELECT $__timeGroup(time_column,'5m'), x", RANGE) == \
        'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", x'  # pre-5.3 form
    assert expand_macros("$__timeGroupAlias(ts, 1s)", RANGE) == 'floor(extract(epoch from ts)/1)*1 AS "time"'
    assert expand_macros("$__timeGroup(ts, 500ms)", RANGE) == "floor(extract(epoch from ts)/0.5)*0.5"
    assert expand_macros("$__unixEpochGroup(t, 1h)", RANGE) == "floor((t)/3600)*3600"
    with pytest.raises(GrafanaSQLError, match="needs time column and interval"):
        expand_macros("$__timeGroup(ts)", RANGE)
    with pytest.raises(GrafanaSQLError, match="unknown macro"):
        expand_macros("$__nope(ts)", RANGE)


def test_go_float_formatting_matches_go_percent_v():
    # fmt.Sprintf("%v", x) in Go for these float64 values
    assert [go_float(x) for x in (300.0, 86400.0, 0.5, 1e6, 2592000.0, 1e-5)] == \
        ["300", "86400", "0.5", "1e+06", "2.592e+06", "1e-05"]


def test_interval_is_range_over_data_points_rounded_and_at_least_the_min():
    hour = TimeRange(0, 3_600_000)
    assert round_interval(3600) == 5000  # 1 h / 1000 points = 3.6 s -> 5 s
    assert panel_interval(hour, 1000, "1s") == 5000
    assert panel_interval(TimeRange(0, 900_000), 1000, "1s") == 1000  # 0.9 s -> 1 s
    assert panel_interval(TimeRange(0, 900_000), 1000, None) == 1000
    assert panel_interval(TimeRange(0, 60_000), 1000, "1s") == 1000  # 60 ms would be finer than a row
    assert panel_interval(TimeRange(0, 86_400_000), 1000, "1s") == 60000  # 86.4 s -> 1 m
    assert [seconds_to_hms(s) for s in (1, 5, 60, 90, 3600, 86400, 0.2)] == ["1s", "5s", "1m", "1m", "1h", "1d", "200ms"]
    b = builtin_variables(hour, 5000)
    assert (b["__interval"], b["__interval_ms"], b["__range_s"]) == ("5s", "5000", "3600")


def test_time_picker_values():
    now = 1523556300000
    assert TimeRange.parse("now-5m", "now", now) == RANGE
    assert TimeRange.parse("2018-04-12T18:00:00Z", "1523556300000", now) == RANGE
    assert TimeRange.parse("now-1h/h", "now", now).from_ms == 1523552400000  # 17:05 rounded to 17:00
    with pytest.raises(GrafanaSQLError):
        TimeRange.parse("yesterday", "now", now)


def test_variables_are_quoted_like_grafanas_sql_datasources():
    variables = {"symbol": Variable("symbol", ("BTC-USD",)), "venue": Variable("venue", ("binance", "o'k"), True),
                 "q": Variable("q", ("it's",))}
    sql = "s = '$symbol' AND v IN ($venue) AND x = '${q}' AND [[symbol]] $__timeFilter(ts) $unknown"
    assert interpolate(sql, variables, {}) == \
        "s = 'BTC-USD' AND v IN ('binance','o''k') AND x = 'it''s' AND BTC-USD $__timeFilter(ts) $unknown"
    assert interpolate("$__interval_ms", {}, {"__interval_ms": "5000"}) == "5000"


def test_model_checks_catch_what_grafana_would_reject():
    good = build_all()["cobflow-cob"]
    assert check_model("x", good) == []
    bad = copy.deepcopy(good)
    bad["panels"][0]["datasource"] = {"type": "prometheus", "uid": "prom"}
    bad["panels"][1]["targets"] = []
    bad["panels"][2]["targets"][0]["rawSql"] = "SELECT 1 FROM cob_summary WHERE s = '$nosuch'"
    bad["panels"][3]["gridPos"] = {"x": 20, "y": 0, "w": 8, "h": 8}
    bad["panels"][4]["id"] = bad["panels"][5]["id"]
    problems = "\n".join(check_model("x", bad))
    assert "not the provisioned QuestDB datasource" in problems
    assert "no query" in problems
    assert "undefined $nosuch" in problems
    assert "24-column grid" in problems
    assert "duplicate panel ids" in problems
    assert check_model("y", {"title": "t"})[0].startswith("y: 'uid' missing")


def test_validate_expands_and_runs_each_query_and_fails_on_errors_and_empty_results(tmp_path):
    dash = build_all()["cobflow-market"]
    (tmp_path / "m.json").write_text(json.dumps(dash))
    seen: list[str] = []

    def run(sql: str):
        seen.append(sql)
        if "DISTINCT symbol" in sql:
            return [{"symbol": "BTC-USD"}, {"symbol": "ETH-USD"}]
        if "DISTINCT venue" in sql:
            assert "symbol = 'BTC-USD'" in sql  # the first symbol, chosen as Grafana would
            return [{"venue": "ALL"}, {"venue": "binance"}]
        if "open, high" in sql:
            return []  # no bars: must be reported
        if "cvd" in sql:
            raise RuntimeError("invalid column: cvd")
        return [{"x": 1}]

    report = validate(tmp_path, run, "now-5m", "now", now_ms=1523556300000)
    assert not report.ok
    errors = {q.panel: q.error for q in report.queries if q.error}
    assert errors == {"$symbol $timeframe candles ($venue)": "no rows in the time range",
                      "Cumulative volume delta": "invalid column: cvd"}
    volume = next(q.sql for q in report.queries if q.panel.startswith("Volume"))
    assert "venue = 'ALL' AND timeframe = '1m'" in volume
    assert "ts BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'" in volume
    assert all("$" not in s for s in seen)


def test_table_prefix_applies_to_tables_only():
    sql = "SELECT venues, cob_summary_x FROM cob_summary JOIN ohlcv ON x WHERE v IN (SELECT 1 FROM dead_letters)"
    assert with_table_prefix(sql, "t1_") == \
        "SELECT venues, cob_summary_x FROM t1_cob_summary JOIN t1_ohlcv ON x WHERE v IN (SELECT 1 FROM t1_dead_letters)"


class _FakeGrafana(BaseHTTPRequestHandler):
    """Grafana cannot run here: this answers the HTTP API calls `push` makes, and records them."""

    calls: list[tuple[str, str, dict | None, str | None]] = []

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n)) if n else None
        self.calls.append((method, self.path, body, self.headers.get("Authorization")))
        if method == "GET":
            self._reply(404, {"message": "not found"})
        elif self.path == "/api/dashboards/db":
            self._reply(200, {"status": "success", "url": f"/d/{body['dashboard']['uid']}"})
        else:
            self._reply(200, {"message": "ok"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def log_message(self, *args) -> None:
        pass


def test_push_creates_the_datasource_folder_and_dashboards():
    from cobflow.app.dashboards.push import push

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGrafana)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FakeGrafana.calls = []
    try:
        done = push(f"http://127.0.0.1:{server.server_port}", "tok123", "questdb:8812", "admin", "quest", "t9_")
    finally:
        server.shutdown()
    calls = _FakeGrafana.calls
    assert all(auth == "Bearer tok123" for *_, auth in calls)
    ds = next(body for m, path, body, _ in calls if (m, path) == ("POST", "/api/datasources"))
    assert (ds["uid"], ds["type"], ds["url"], ds["user"]) == (DATASOURCE_UID, "grafana-postgresql-datasource",
                                                              "questdb:8812", "admin")
    assert ds["secureJsonData"] == {"password": "quest"} and ds["jsonData"]["database"] == "qdb"
    assert ("POST", "/api/folders") in [(m, p) for m, p, *_ in calls]
    posted = [body for m, path, body, _ in calls if path == "/api/dashboards/db"]
    assert sorted(b["dashboard"]["uid"] for b in posted) == ["cobflow-cob", "cobflow-health", "cobflow-market",
                                                             "cobflow-models", "cobflow-trading"]
    assert all(b["folderUid"] == "cobflow" and b["overwrite"] for b in posted)
    sql = " ".join(t["rawSql"] for b in posted for p in b["dashboard"]["panels"] for t in p["targets"])
    assert "FROM t9_cob_buckets" in sql and "FROM cob_buckets" not in sql
    assert len(done) == 7  # the datasource, the folder, five dashboards
