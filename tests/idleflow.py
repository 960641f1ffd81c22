"""A dataflow that waits forever (tests of how flows are started and stopped)."""

from __future__ import annotations

import time

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.testing import TestingSink


class _Idle(StatefulSourcePartition[int, None]):
    def next_batch(self) -> list[int]:
        time.sleep(0.1)
        return []

    def snapshot(self) -> None:
        return None


class _IdleSource(FixedPartitionedSource[int, None]):
    def list_parts(self) -> list[str]:
        return ["idle"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Idle:
        return _Idle()


def flow() -> Dataflow:
    f = Dataflow("idle")
    op.output("out", op.input("in", f, _IdleSource()), TestingSink([]))
    return f
