"""`@task.sensor`: a TaskFlow function used as a PythonSensor's poke (it may return a PokeReturnValue)."""

from __future__ import annotations

from slipstream.sdk.decorators import _DecoratedPython
from slipstream.sdk.sensors.python import PythonSensor


class DecoratedSensorOperator(_DecoratedPython, PythonSensor):
    custom_operator_name = "@task.sensor"
