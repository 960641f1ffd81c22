"""What every plug-in shares (strategies, rule signals, risk rules, model kinds): loading
a class by `module:Class`, its parameters as its own pydantic model checked with one-line
errors, and the per-symbol base class."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cobflow.config import PluginError

T = TypeVar("T")
#: the dead-letter stages of plug-ins that raised or answered nonsense: a strategy flow beside the COB flow
#: reports these itself (the COB flow reports the input's and the books')
PLUGIN_STAGES = ("strategy", "signal", "model")


class PluginParams(BaseModel):
    """The base of a plug-in's `Params`: unknown keys, inf and nan are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SymbolPlugin:
    """A plug-in with one instance per symbol (strategies, rule signals): `self.symbol` and
    `self.params` (its validated `Params`) are set before the first call."""

    Params: type[BaseModel] = PluginParams

    def __init__(self, symbol: str, params: Any) -> None:
        self.symbol = symbol
        self.params = params

    @classmethod
    def defaults(cls, symbol_strategy: Any) -> dict[str, Any]:
        """Parameters taken from the symbol's `strategy:` settings before the user's."""
        return {}


def load_class(spec: str, base: type[T], what: str) -> type[T]:
    """`module:Class` -> the class, checked to be a subclass of `base`; one-line errors."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{what} {spec!r}: expected module:Class (e.g. mypkg.momentum:Momentum)")
    if os.getcwd() not in sys.path and "" not in sys.path:  # a user's module beside them, as `python -m` finds it
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # any failure of the user's module: one line
        raise PluginError(f"{what} {spec!r}: cannot import {module_name} ({type(e).__name__}: {e})") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise PluginError(f"{what} {spec!r}: {module_name} has no {attr}")
    if not isinstance(obj, type) or not issubclass(obj, base):
        raise PluginError(f"{what} {spec!r}: {attr} is not a {base.__name__} (subclass {base.__module__}."
                          f"{base.__name__})")
    return obj


def validate_params(cls: type, params: Mapping[str, Any], label: str) -> Any:
    """The class's `Params` model over these parameters; one line naming the first bad key."""
    model = getattr(cls, "Params", None)
    if model is None or not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PluginError(f"{label}: its Params is not a pydantic model")
    try:
        return model.model_validate(dict(params))
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"]) or "params"
        raise PluginError(f"{label}: parameter {key}: {err['msg']}") from None
