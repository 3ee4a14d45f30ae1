from slipstream.sdk.sensors.base import PokeReturnValue
from slipstream.sdk.sensors.python import PythonSensor

__all__ = ["PokeReturnValue", "PythonSensor"]
