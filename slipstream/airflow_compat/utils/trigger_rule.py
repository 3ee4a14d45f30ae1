from slipstream.sdk.operators import TriggerRule

__all__ = ["TriggerRule"]
