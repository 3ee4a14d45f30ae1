from slipstream.sdk.sensors.time import DayOfWeekSensor

__all__ = ["DayOfWeekSensor"]
