"""The models section (`COBFLOW_MODELS__*`): checkpoints, what the models read, plug-in kinds."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cobflow.settings.base import _CLASS_SPEC, _default_home


class ModelSettings(BaseModel):
    """Where checkpoints live and what the models read (FEATURES.md vectors, issue 17)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    dir: Path = Field(default_factory=lambda: _default_home() / "models", description="checkpoints, per kind")
    keep: int = Field(5, ge=1, le=50, description="checkpoints kept per kind (the best by validation metric)")
    window_s: int = Field(60, ge=5, description="seconds of feature vectors the cnn reads")
    horizon_s: int = Field(60, ge=1, description="the direction's horizon, and the embargo of the split")
    dead_zone_bps: float = Field(2.0, ge=0, description="returns within +-this over the horizon are flat")
    kinds: tuple[str, ...] = Field((), description='your model kinds the strategy flow runs beside cnn and dqn '
                                   '(JSON list of module:Class, e.g. ["mypkg.kinds:MyKind"])')

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        for k in kinds:
            if not _CLASS_SPEC.match(k):
                raise ValueError(f"model kind {k!r}: expected module:Class")
        return kinds
