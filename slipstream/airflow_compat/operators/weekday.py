from slipstream.sdk.branching import BranchDayOfWeekOperator

__all__ = ["BranchDayOfWeekOperator"]
