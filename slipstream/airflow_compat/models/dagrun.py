from slipstream.sdk.runtime import DagRun

__all__ = ["DagRun"]
