from slipstream.sdk.sensors.filesystem import FileSensor

__all__ = ["FileSensor"]
