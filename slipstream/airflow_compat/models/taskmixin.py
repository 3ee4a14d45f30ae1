from slipstream.sdk.dependencies import DependencyMixin

__all__ = ["DependencyMixin"]
