from slipstream.sdk.triggers.file import FileTrigger

__all__ = ["FileTrigger"]
