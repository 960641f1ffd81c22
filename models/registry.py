"""Model kinds by name: what `cobflow train KIND` builds and a checkpoint's `kind` loads."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from cobflow.models.cnn import CnnModel
from cobflow.models.dqn import DqnModel

KINDS: dict[str, Callable[..., nn.Module]] = {"cnn": CnnModel, "dqn": DqnModel}


def build(kind: str, **config: object) -> nn.Module:
    try:
        return KINDS[kind](**config)
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(KINDS)}") from None
