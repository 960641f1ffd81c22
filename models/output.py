"""What the models hand the strategy step, without torch: the flow of a run whose strategies
read no model never imports it (`cobflow.models.runtime`, which does, is loaded by name only
when a strategy reads models)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from cobflow.records import ModelEvent
from cobflow.strategy import ModelOutput

if TYPE_CHECKING:
    from cobflow.models.dataset import LabelSpec

ACTIONS = ("BUY", "SELL", "HOLD")
DIRECTIONS = ("down", "flat", "up")
#: where the runner is: loaded by name (`runner_loader`), so torch is imported only by a
#: flow whose strategies read models
RUNTIME = "cobflow.models.runtime"


@dataclass
class SlotOutput:
    """The models' calls on one symbol at one second."""

    direction_probs: np.ndarray | None  # (3,) down, flat, up (None: no cnn trained)
    pivots: np.ndarray | None  # (LEVELS, 2): price offset bps, time offset s
    q: np.ndarray | None  # (3,) BUY, SELL, HOLD
    cnn_name: str = ""  # the checkpoints that made it
    dqn_name: str = ""
    extra: tuple[ModelOutput, ...] = ()  # the other kinds' calls (COBFLOW_MODELS__KINDS)


Inputs = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]]  # symbol -> window, heatmap, rl, position


class Runner(Protocol):
    """The models of a checkpoints folder, run once a round on a batch of symbols."""

    spec: LabelSpec

    def run(self, inputs: Inputs, seconds: dict[str, int] | None = None) -> dict[str, SlotOutput]: ...

    def take_errors(self) -> list[tuple[str, BaseException]]: ...

    def refresh(self, s: int) -> list[ModelEvent]:
        """Swap in newly promoted checkpoints before the round of second s: what happened."""
        ...

    def names(self) -> dict[str, str]:
        """kind -> the checkpoint running."""
        ...
