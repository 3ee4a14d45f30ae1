from slipstream.sdk.branching import BranchDateTimeOperator

__all__ = ["BranchDateTimeOperator"]
