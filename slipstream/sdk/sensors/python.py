"""PythonSensor and the @task.sensor operator: poke by calling a function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slipstream.sdk.operators import determine_kwargs
from slipstream.sdk.sensors.base import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    template_fields = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: dict[str, Any]) -> PokeReturnValue | bool:
        merged = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        print(f"Poking callable: {self.python_callable!r}", flush=True)
        result = self.python_callable(*self.op_args, **determine_kwargs(self.python_callable, self.op_args, merged))
        if isinstance(result, PokeReturnValue):
            return result
        return PokeReturnValue(bool(result))
