"""Sensors (task-model-semantics §9): operators that wait for a condition, poking or rescheduling."""

from slipstream.sdk.sensors.base import BaseSensorOperator, PokeReturnValue, poke_mode_only
from slipstream.sdk.sensors.bash import BashSensor
from slipstream.sdk.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from slipstream.sdk.sensors.filesystem import FileSensor
from slipstream.sdk.sensors.python import PythonSensor
from slipstream.sdk.sensors.time import (
    DateTimeSensor,
    DateTimeSensorAsync,
    DayOfWeekSensor,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
)

__all__ = [
    "BaseSensorOperator",
    "BashSensor",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "DayOfWeekSensor",
    "ExternalTaskMarker",
    "ExternalTaskSensor",
    "FileSensor",
    "PokeReturnValue",
    "PythonSensor",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeSensor",
    "TimeSensorAsync",
    "poke_mode_only",
]
