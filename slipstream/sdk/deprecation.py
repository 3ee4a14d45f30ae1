"""Airflow's old module paths (`airflow.operators.dummy`, `...bash_operator`): a name read from them
warns that the class moved and resolves it from its new `airflow.*` path."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any


def moved_classes_getattr(module: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `module`, whose names in `moved` now live at the given full paths."""

    def __getattr__(name: str) -> Any:
        target = moved.get(name)
        if target is None:
            raise AttributeError(f"The module `{module!r}` has no attribute `{name!r}`")
        warnings.warn(
            f"The `{module}.{name}` class is deprecated. Please use `{target!r}`.", DeprecationWarning, stacklevel=2
        )
        new_module, new_name = target.rsplit(".", 1)
        try:
            return getattr(importlib.import_module(new_module), new_name)
        except (ImportError, AttributeError) as exc:
            raise ImportError(
                f"Could not import `{new_module}.{new_name}` while trying to import `{module}.{name}`."
            ) from exc

    return __getattr__


_SDK_DIR = os.path.dirname(os.path.abspath(__file__))


def warn_deprecated(message: str, category: type[Warning] | None = None) -> None:
    """Warn, attributing the warning to the first caller outside the SDK (the DAG file's line),
    however many SDK frames (operator __init__ chains, decorators) lie between."""
    if category is None:
        from slipstream.sdk.exceptions import RemovedInAirflow3Warning

        category = RemovedInAirflow3Warning
    level = 2
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_SDK_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
