"""What Grafana does to a panel's SQL before the database sees it, reproduced so that the
dashboards can be run against QuestDB without Grafana:

1. the front end replaces template variables (`$symbol`, `${venue}`, `[[x]]`) and the
   built-ins (`$__interval`, `$__interval_ms`, `$__from`, ...), quoting multi-value
   variables as SQL literals the way the SQL data sources do;
2. the PostgreSQL data source's backend expands its macros (`$__timeFilter(ts)`,
   `$__timeGroupAlias(ts, 5s)`, ...) exactly as grafana-postgresql-datasource/macros.go does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
            "M": 2_592_000_000, "y": 31_536_000_000}


class GrafanaSQLError(ValueError):
    pass


@dataclass(frozen=True)
class TimeRange:
    from_ms: int
    to_ms: int

    @classmethod
    def parse(cls, start: str, end: str, now_ms: int) -> TimeRange:
        return cls(parse_time(start, now_ms), parse_time(end, now_ms))

    def rfc3339(self, ms: int) -> str:
        """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped, 'Z'."""
        dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
        frac = f"{ms % 1000:03d}".rstrip("0")
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def parse_time(text: str, now_ms: int) -> int:
    """Grafana's time-picker values: `now`, `now-15m`, `now-1h/h` (rounded down), epoch ms, ISO 8601."""
    text = text.strip()
    m = re.fullmatch(r"now(?:-(\d+)(ms|[smhdwMy]))?(?:/([smhdwMy]))?", text)
    if m:
        ms = now_ms - (int(m.group(1)) * _UNIT_MS[m.group(2)] if m.group(1) else 0)
        if m.group(3):
            ms -= ms % _UNIT_MS[m.group(3)]
        return ms
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GrafanaSQLError(f"time {text!r}: expected now, now-<n><unit>, epoch ms or ISO 8601") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_interval(text: str) -> float:
    """gtime.ParseInterval: `5m`, `1h`, `500ms`, `1d` ... -> seconds."""
    m = re.fullmatch(r"\s*'?(\d+(?:\.\d+)?)(ms|[smhdwMy])'?\s*", text)
    if not m:
        raise GrafanaSQLError(f"error parsing interval {text}")
    return float(m.group(1)) * _UNIT_MS[m.group(2)] / 1000


# Grafana's rangeutil.roundInterval: (upper bound of the raw interval in ms, rounded ms).
_ROUND = ((10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
          (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
          (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
          (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
          (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
          (1814400000, 604800000), (3628800000, 2592000000))


def round_interval(ms: float) -> int:
    for bound, rounded in _ROUND:
        if ms < bound:
            return rounded
    return 31536000000


def seconds_to_hms(seconds: float) -> str:
    """Grafana's rangeutil.secondsToHms: the largest non-zero unit only (90 s -> `1m`)."""
    rest = seconds % 31536000
    for count, unit in ((seconds // 31536000, "y"), (rest // 86400, "d"), (rest % 86400 // 3600, "h"),
                        (rest % 3600 // 60, "m"), (rest % 60 // 1, "s"), (seconds * 1000 // 1, "ms")):
        if count:
            return f"{int(count)}{unit}"
    return "less than a millisecond"


def panel_interval(rng: TimeRange, max_data_points: int, min_interval: str | None) -> int:
    """The panel's $__interval in ms: range / data points, rounded, at least the min interval."""
    ms = round_interval((rng.to_ms - rng.from_ms) / max_data_points)
    if min_interval:
        ms = max(ms, int(parse_interval(min_interval) * 1000))
    return ms


@dataclass(frozen=True)
class Variable:
    name: str
    values: tuple[str, ...]  # the selected value(s)
    multi: bool = False  # multi-value or include-all: values are quoted as SQL literals


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


#: `$name`, `[[name]]`, `${name}` (with an optional `:format`): Grafana's variable syntaxes
VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+)(?::\w+)?\]\]|\$\{(\w+)(?::\w+)?\}")


def interpolate(sql: str, variables: dict[str, Variable], builtins: dict[str, str]) -> str:
    """Replace template variables the way Grafana's SQL data sources do; names it does not know
    (macros such as $__timeFilter) are left for the backend."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in builtins:
            return builtins[name]
        var = variables.get(name)
        if var is None:
            return m.group(0)
        if var.multi:
            return ",".join(_quote(v) for v in var.values)
        return var.values[0].replace("'", "''") if var.values else ""

    return VARIABLE.sub(repl, sql)


def builtin_variables(rng: TimeRange, interval_ms: int) -> dict[str, str]:
    span = rng.to_ms - rng.from_ms
    return {
        "__interval": seconds_to_hms(interval_ms / 1000), "__interval_ms": str(interval_ms),
        "__from": str(rng.from_ms), "__to": str(rng.to_ms),
        "__range": seconds_to_hms(span / 1000), "__range_s": str(span // 1000), "__range_ms": str(span),
    }


def go_float(x: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form from 1e+06 up or below 1e-04."""
    if x == int(x) and abs(x) < 1e21:
        digits = str(int(abs(x))).rstrip("0") or "0"
        point = len(str(int(abs(x))))
    else:
        sign, ds, exp = Decimal(repr(abs(x))).as_tuple()
        digits = "".join(map(str, ds)).rstrip("0") or "0"
        point = len(ds) + int(exp)  # position of the decimal point
    eprec = 6
    if eprec > len(digits) >= point:
        eprec = len(digits)
    exp10 = point - 1
    sign = "-" if x < 0 else ""
    if exp10 < -4 or exp10 >= eprec:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"
    return sign + format(Decimal(f"0.{digits}E{point}") if digits != "0" else Decimal(0), "f")


_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")


def expand_macros(sql: str, rng: TimeRange) -> str:
    """grafana-postgresql-datasource's macro engine (TimescaleDB off)."""
    error: list[str] = []

    def evaluate(name: str, args: list[str]) -> str:
        if name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter", "__unixEpochNanoFilter") and (
                not args or not args[0]):
            raise GrafanaSQLError(f"missing time column argument for macro {name}")
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rng.rfc3339(rng.from_ms)}' AND '{rng.rfc3339(rng.to_ms)}'"
        if name == "__timeFrom":
            return f"'{rng.rfc3339(rng.from_ms)}'"
        if name == "__timeTo":
            return f"'{rng.rfc3339(rng.to_ms)}'"
        if name in ("__timeGroup", "__unixEpochGroup"):
            if len(args) < 2:
                raise GrafanaSQLError(f"macro {name} needs time column and interval and optional fill value")
            s = go_float(parse_interval(args[1]))
            if name == "__timeGroup":
                return f"floor(extract(epoch from {args[0]})/{s})*{s}"
            return f"floor(({args[0]})/{s})*{s}"
        if name in ("__timeGroupAlias", "__unixEpochGroupAlias"):
            return evaluate(name[: -len("Alias")], args) + ' AS "time"'
        if name == "__unixEpochFilter":
            return f"{args[0]} >= {rng.from_ms // 1000} AND {args[0]} <= {rng.to_ms // 1000}"
        if name == "__unixEpochNanoFilter":
            return f"{args[0]} >= {rng.from_ms * 1_000_000} AND {args[0]} <= {rng.to_ms * 1_000_000}"
        if name == "__unixEpochNanoFrom":
            return str(rng.from_ms * 1_000_000)
        if name == "__unixEpochNanoTo":
            return str(rng.to_ms * 1_000_000)
        raise GrafanaSQLError(f'unknown macro "{name}"')

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "__timeGroup":  # pre-5.3 dashboards: "$__timeGroup(...)," means the alias form
            end = sql.find(m.group(0))
            if end >= 0 and sql[end + len(m.group(0)):end + len(m.group(0)) + 1] == ",":
                name = "__timeGroupAlias"
        try:
            return evaluate(name, [a.strip() for a in m.group(2).split(",")])
        except GrafanaSQLError as exc:
            error.append(str(exc))
            return "macro_error()"

    out = _MACRO.sub(repl, sql)
    if error:
        raise GrafanaSQLError(error[0])
    return out
