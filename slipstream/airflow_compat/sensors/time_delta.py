from slipstream.sdk.sensors.time import TimeDeltaSensor, TimeDeltaSensorAsync

__all__ = ["TimeDeltaSensor", "TimeDeltaSensorAsync"]
