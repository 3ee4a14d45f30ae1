from slipstream.sdk.runtime import TaskInstance

__all__ = ["TaskInstance"]
