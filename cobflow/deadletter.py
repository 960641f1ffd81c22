"""Messages the pipeline could not use, with the reason, for the dead-letter topic."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from cobflow.raw import RawMessage
from cobflow.tables import DEAD_LETTERS, TableRow

#: QuestDB keeps the reason, cut to this length; the dlq topic keeps it whole, with the message.
REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stage: str  # "parse" (malformed frame) or "sync" (sequence gap, checksum failure)
    reason: str
    raw: RawMessage

    def id(self) -> str:
        """A stable id: the same dead letter (stage, reason, message) made twice, by a flow
        resumed from its recovery store, has the same one."""
        return hashlib.blake2b(self.to_json(), digest_size=16).hexdigest()

    def to_json(self) -> bytes:
        return orjson.dumps({"stage": self.stage, "reason": self.reason, "message": self.raw.to_dict()})

    def row(self) -> TableRow:
        """The counted, queryable trace of this dead letter (the dead_letters table)."""
        tags = {"venue": self.raw.exchange, "market": self.raw.symbol or "*", "stage": self.stage}
        return TableRow(DEAD_LETTERS.name, self.raw.ts_recv, tags, {"reason": self.reason[:REASON_CHARS]})

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [
            ("stage", self.stage.encode()),
            ("reason", self.reason.encode()[:1000]),
            ("exchange", self.raw.exchange.encode()),
            ("ts_recv", str(self.raw.ts_recv).encode()),
        ]
