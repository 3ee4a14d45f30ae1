from slipstream.sdk.branching import LatestOnlyOperator

__all__ = ["LatestOnlyOperator"]
