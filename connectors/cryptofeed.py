"""Recordings in the cryptofeed sample-data format -> raw messages (CAPTURE.md).

Line format of those files (ts in float seconds):
    URL <-> ts                the connection opened (first line)
    URL <- ts: text           a frame we sent (subscriptions): not market data, skipped
    ts: text                  a frame we received
    URL -> ts: body           a REST response
The venue comes from the file name (BINANCE.ws.1.0, HUOBI.ws.44.0 -> htx, ...). Binary
frames (HTX's gzip) were written as Python bytes literals (`b'\\x1f\\x8b...'`); they become
base64 payloads with `encoding` set, as CAPTURE.md stores binary frames.
"""

from __future__ import annotations

import ast
import base64
import gzip
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from cobflow.connectors import available_venues, get_venue
from cobflow.raw import RawMessage


def _file_venues() -> dict[str, str]:
    """File-name prefix -> venue id, from each connector's `CRYPTOFEED` names."""
    return {name: v for v in available_venues() for name in getattr(get_venue(v), "CRYPTOFEED", ())}


FILE_VENUES = _file_venues()

_TS = r"(\d+(?:\.\d+)?)"
_INCOMING = re.compile(rf"^{_TS}: (.*)$", re.DOTALL)
_REST = re.compile(rf"^(\S+) -> {_TS}: (.*)$", re.DOTALL)
_OUTGOING = re.compile(rf"^(\S+) <- {_TS}: ")
_HEADER = re.compile(rf"^(\S+) <-> {_TS}$")


class ImportError_(ValueError):
    """A recording cannot be imported; says which file and line."""


def seconds_to_ns(text: str) -> int:
    """'1633998512.0633569' -> 1633998512063356900, exactly (no float rounding)."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def venue_of_file(path: Path) -> str:
    prefix = path.name.split(".", 1)[0].upper()
    if prefix not in FILE_VENUES:
        raise ImportError_(
            f"{path}: cannot tell the venue from the file name (expected one of "
            f"{', '.join(sorted(FILE_VENUES))} before the first dot)"
        )
    return FILE_VENUES[prefix]


def _binary_frame(text: str) -> tuple[str, str, str] | None:
    """A bytes literal -> (base64 payload, encoding, decoded text); None for a text frame."""
    if not text.startswith(("b'", 'b"')):
        return None
    data = ast.literal_eval(text)
    if data[:2] == b"\x1f\x8b":
        return base64.b64encode(data).decode(), "base64-gzip", gzip.decompress(data).decode()
    return base64.b64encode(data).decode(), "base64", data.decode(errors="replace")


def read_cryptofeed(path: Path | str) -> Iterator[RawMessage]:
    path = Path(path)
    venue = venue_of_file(path)
    describe = get_venue(venue).describe_frame
    state: dict = {}  # what a venue's describer learns along the file (Bitfinex channel ids)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or _HEADER.match(line) or _OUTGOING.match(line):
                continue
            m = _INCOMING.match(line)
            if m:
                ts, text = m.groups()
                kind, url = "ws", None
            else:
                m = _REST.match(line)
                if not m:
                    raise ImportError_(f"{path}:{lineno}: not a cryptofeed capture line: {line[:80]!r}")
                url, ts, text = m.groups()
                kind = "rest"
            encoding = None
            binary = _binary_frame(text)
            if binary is not None:
                payload, encoding, text = binary
            else:
                payload = text
            channel, symbol = describe(kind, url, text, state)
            yield RawMessage(seconds_to_ns(ts), venue, kind, channel, symbol, payload, encoding)


def import_cryptofeed(paths: Iterable[Path | str]) -> list[RawMessage]:
    """All frames of several recordings, merged in ts_recv order (ties keep file order)."""
    messages = [m for p in paths for m in read_cryptofeed(p)]
    messages.sort(key=lambda m: m.ts_recv)
    return messages
