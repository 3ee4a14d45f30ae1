from slipstream.sdk.operators import BashOperator

__all__ = ["BashOperator"]
