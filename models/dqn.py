"""The `dqn` kind: the `rl` vector, the CNN's outputs and hidden state, and the position
held -> Q-values of BUY, SELL, HOLD.

Its environment (offline, from stored rows): once a second the agent holds -1, 0 or +1
unit of the symbol; BUY makes it +1, SELL -1, HOLD keeps it. The reward of a second is
`position' x ln(mid(S+1) / mid(S)) x 1e4 - taker_fee_bps x |position' - position|` (bps of
the unit's value, net of the taker fee on every change). The market does not react to the
agent, so every (second, position) pair of the stored rows is a state it can learn from.
"""

from __future__ import annotations

import torch
from torch import nn

from cobflow.metrics.pivots import LEVELS
from cobflow.metrics.vectors import RL_SIZE
from cobflow.models.cnn import HIDDEN

DQN_INPUT = RL_SIZE + 3 + 2 * LEVELS + HIDDEN + 1  # rl, cnn probabilities, pivots, hidden, position


class DqnModel(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(DQN_INPUT, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, 3))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.net(state)
