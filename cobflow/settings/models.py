"""The models section (`COBFLOW_MODELS__*`): checkpoints, what the models read, plug-in kinds."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cobflow.settings.base import _CLASS_SPEC, _default_home


class LearnSettings(BaseModel):
    """`cobflow learn` (`COBFLOW_MODELS__LEARN__*`): retraining from the stored rows, on the
    data's clock (the newest features second), champion against challenger, drift."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    retrain_every_s: int = Field(3600, ge=60, description="seconds of data between two retrains")
    train_window_s: int = Field(86400, ge=600, description="the seconds of rows each retrain reads (the last ones)")
    holdout_s: int = Field(3600, ge=60, description="the most recent seconds, never trained on, on which challenger "
                           "and champion compete")
    min_labels: int = Field(30, ge=1, description="independent labels (one per symbol per horizon) the verdict "
                            "needs; fewer: refused")
    p_value: float = Field(0.05, gt=0, lt=1, description="the one-sided test's level a challenger must beat")
    epochs: int = Field(8, ge=1, description="at most this many epochs (early stopping on the validation)")
    stride: int = Field(2, ge=1, description="one training sample every N seconds")
    dqn: bool = Field(True, description="train a dqn on each promoted cnn and promote it with it")
    drift_floor: float = Field(0.5, ge=0, le=1, description="rolling accuracy of the running cnn below this ...")
    drift_for_s: int = Field(1800, ge=60, description="... on every outcome of a symbol for this long: an early "
                             "retrain")
    poll_s: float = Field(30.0, gt=0, description="wall seconds between two looks at the data clock")


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
    learn: LearnSettings = Field(default_factory=LearnSettings, description="the learner (cobflow learn)")

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        for k in kinds:
            if not _CLASS_SPEC.match(k):
                raise ValueError(f"model kind {k!r}: expected module:Class")
        return kinds
