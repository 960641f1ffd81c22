"""A capture file as a Bytewax source (`cobflow compute`): one partition, read in batches,
resumable at a message index."""

from __future__ import annotations

import itertools
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from cobflow.capture import read_capture
from cobflow.raw import RawMessage


class _CapturePartition(StatefulSourcePartition[RawMessage, int]):
    def __init__(self, path: Path, batch_size: int, resume: int | None) -> None:
        self.batch_size = batch_size
        self.offset = resume or 0
        self.it = itertools.islice(read_capture(path), self.offset, None)

    def next_batch(self) -> list[RawMessage]:
        batch = list(itertools.islice(self.it, self.batch_size))
        if not batch:
            raise StopIteration
        self.offset += len(batch)
        return batch

    def snapshot(self) -> int:
        return self.offset


class CaptureSource(FixedPartitionedSource[RawMessage, int]):
    def __init__(self, path: Path | str, batch_size: int = 1000) -> None:
        self.path = Path(path)
        self.batch_size = batch_size

    def list_parts(self) -> list[str]:
        return [self.path.name]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _CapturePartition:
        return _CapturePartition(self.path, self.batch_size, resume_state)
