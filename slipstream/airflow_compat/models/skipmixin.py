from slipstream.sdk.branching import SkipMixin

__all__ = ["SkipMixin"]
