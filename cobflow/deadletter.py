"""Messages the pipeline could not use, with the reason, for the dead-letter topic."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from cobflow.raw import RawMessage


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stage: str  # "parse" (malformed frame) or "sync" (sequence gap, checksum failure)
    reason: str
    raw: RawMessage

    def to_json(self) -> bytes:
        return orjson.dumps({"stage": self.stage, "reason": self.reason, "message": self.raw.to_dict()})

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [
            ("stage", self.stage.encode()),
            ("reason", self.reason.encode()[:1000]),
            ("exchange", self.raw.exchange.encode()),
            ("ts_recv", str(self.raw.ts_recv).encode()),
        ]
