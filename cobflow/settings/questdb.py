"""The QuestDB section (`COBFLOW_QUESTDB__*`): where the tables are written and read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QuestDBSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    host: str = "127.0.0.1"
    http_port: int = Field(9000, ge=1, le=65535, description="REST /exec and ILP over HTTP")
    pg_port: int = Field(8812, ge=1, le=65535, description="PostgreSQL wire (Grafana, psql)")
    ilp_tcp_port: int = Field(9009, ge=1, le=65535)
    min_http_port: int = Field(9003, ge=1, le=65535, description="health endpoint")
    table_prefix: str = Field("", description="prepended to every table name (isolates tests)")

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def ilp_conf(self) -> str:
        return f"http::addr={self.host}:{self.http_port};"

    def table(self, name: str) -> str:
        return f"{self.table_prefix}{name}"
