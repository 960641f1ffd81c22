"""The `cnn` kind: the last T seconds of `cnn` vectors and the book heatmap -> direction
probabilities over the horizon and, per pivot level, the next pivot's price and time
offsets; its hidden state (64 values) feeds the `dqn`."""

from __future__ import annotations

import torch
from torch import nn

from cobflow.metrics.pivots import LEVELS
from cobflow.metrics.vectors import CNN_SIZE

HIDDEN = 64


class CnnModel(nn.Module):
    def __init__(self, window_s: int = 60, heat_rows: int = 60, channels: int = 32) -> None:
        super().__init__()
        self.window_s, self.heat_rows = window_s, heat_rows
        self.vec = nn.Sequential(nn.Conv1d(CNN_SIZE, channels, 5, padding=2), nn.ReLU(),
                                 nn.Conv1d(channels, channels, 5, padding=2), nn.ReLU())
        self.heat = nn.Sequential(nn.Conv2d(2, 8, 5, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 4)))
        self.hidden = nn.Sequential(nn.Linear(2 * channels + 8 * 16, HIDDEN), nn.ReLU())
        self.direction = nn.Linear(HIDDEN, 3)
        self.pivots = nn.Linear(HIDDEN, 2 * LEVELS)

    def forward(self, windows: torch.Tensor, heat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """windows (b, T, 220) normalised, heat (b, 2, rows, 41) -> (direction logits (b, 3),
        pivots (b, 2 * LEVELS), hidden (b, 64))."""
        v = self.vec(windows.transpose(1, 2))
        v = torch.cat([v.mean(dim=2), v[:, :, -1]], dim=1)
        h = self.heat(heat).flatten(1)
        hidden = self.hidden(torch.cat([v, h], dim=1))
        return self.direction(hidden), self.pivots(hidden), hidden
