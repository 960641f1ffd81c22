"""The services section (`COBFLOW_SERVICES__*`): the local Kafka and QuestDB servers."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from cobflow.settings.base import _default_home


class ServicesSettings(BaseModel):
    """The local servers `cobflow services` fetches from Maven Central and runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    home: Path = Field(default_factory=_default_home, description="jars, data, PIDs, logs")
    kafka_version: str = "4.2.0"
    questdb_version: str = "9.3.4"
    kafka_heap: str = "1g"
    questdb_heap: str = "1g"
    start_timeout_s: float = Field(120.0, gt=0)
