from slipstream.sdk.sensors.bash import BashSensor

__all__ = ["BashSensor"]
