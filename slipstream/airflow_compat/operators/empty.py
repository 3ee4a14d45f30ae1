from slipstream.sdk.operators import EmptyOperator

__all__ = ["EmptyOperator"]
