"""The raw-message contract of CAPTURE.md: one exchange frame exactly as received."""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from typing import Any

from cobflow.config import KNOWN_VENUES

KINDS = ("ws", "rest")
ENCODINGS = (None, "base64", "base64-gzip")


class RawMessageError(ValueError):
    """A raw message does not follow the contract."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    ts_recv: int  # ns since the Unix epoch: the event-time clock of every window
    exchange: str
    kind: str
    channel: str
    symbol: str | None
    payload: str  # text as received; base64 of the bytes for binary frames
    encoding: str | None = None

    def payload_bytes(self) -> bytes:
        """The frame's bytes as they came off the wire."""
        if self.encoding is None:
            return self.payload.encode()
        return base64.b64decode(self.payload)

    def payload_text(self) -> str:
        """The frame's text, gunzipped where the venue sends gzip (HTX)."""
        if self.encoding is None:
            return self.payload
        raw = base64.b64decode(self.payload)
        if self.encoding == "base64-gzip":
            raw = gzip.decompress(raw)
        return raw.decode()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ts_recv": self.ts_recv,
            "exchange": self.exchange,
            "kind": self.kind,
            "channel": self.channel,
            "symbol": self.symbol,
            "payload": self.payload,
        }
        if self.encoding is not None:
            d["encoding"] = self.encoding
        return d

    @classmethod
    def from_dict(cls, d: Any) -> "RawMessage":
        if not isinstance(d, dict):
            raise RawMessageError(f"expected an object, got {type(d).__name__}")
        missing = [k for k in ("ts_recv", "exchange", "kind", "channel", "payload") if k not in d]
        if missing:
            raise RawMessageError(f"missing field(s): {', '.join(missing)}")
        ts = d["ts_recv"]
        if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
            raise RawMessageError(f"ts_recv must be a non-negative integer of ns, got {ts!r}")
        if d["exchange"] not in KNOWN_VENUES:
            raise RawMessageError(f"unknown exchange {d['exchange']!r}")
        if d["kind"] not in KINDS:
            raise RawMessageError(f"kind must be 'ws' or 'rest', got {d['kind']!r}")
        encoding = d.get("encoding")
        if encoding not in ENCODINGS:
            raise RawMessageError(f"encoding must be absent, base64 or base64-gzip, got {encoding!r}")
        symbol = d.get("symbol")
        if symbol is not None and not isinstance(symbol, str):
            raise RawMessageError(f"symbol must be a string or null, got {symbol!r}")
        if not isinstance(d["payload"], str):
            raise RawMessageError("payload must be a string")
        return cls(ts, d["exchange"], d["kind"], str(d["channel"]), symbol, d["payload"], encoding)
