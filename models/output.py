"""What a model says about one symbol at one second (the `model_outputs` table)."""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIONS = ("BUY", "SELL", "HOLD")
DIRECTIONS = ("down", "flat", "up")


@dataclass(frozen=True)
class ModelOutput:
    model_type: str  # the kind: cnn, dqn
    model_name: str  # the checkpoint it came from
    symbol: str
    ts: int  # ns: the second S the inputs end at
    confidence: float
    action: str | None = None  # BUY / SELL / HOLD (dqn)
    action_confidence: float | None = None
    probabilities: tuple[float, ...] = ()  # over DIRECTIONS (cnn) or softmax of Q (dqn)
    direction: str | None = None  # down / flat / up (cnn)
    direction_confidence: float | None = None
    pivots: tuple[float, ...] = ()  # per level: price offset bps, time offset s (cnn)
    metadata: dict = field(default_factory=dict)
