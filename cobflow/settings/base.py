"""What every settings section shares: the errors, plug-in specs, one-line messages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cobflow.names import PROJECT_ROOT


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and what was expected."""


class PluginError(ConfigError):
    """A plug-in (`module:Class`) that cannot be used: the message is one line naming it."""


#: a plug-in's name: `module.path:Class`
_CLASS_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _default_home() -> Path:
    # A source checkout keeps jars, server data and logs beside the code (git-ignored);
    # an installed package keeps them in the user's cache.
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / ".cobflow"
    return Path.home() / ".cache" / "cobflow"


class PluginSpec(BaseModel):
    """A plug-in by `module:Class` with its parameters (checked by the class's own Params)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    use: str = Field(pattern=_CLASS_SPEC.pattern, description="module:Class")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"use": value} if isinstance(value, str) else value


def _describe(source: str, exc: ValidationError, env: bool = False) -> str:
    """One line: the source, then each bad key and what is wrong with it."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if env:
            key = "COBFLOW_" + "__".join(p.upper() for p in loc)
        else:
            key = ".".join(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "missing (required)"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{key}: {msg}" if loc else msg)  # a rule over several keys names them itself
    return f"{source}: invalid configuration: " + "; ".join(problems)
