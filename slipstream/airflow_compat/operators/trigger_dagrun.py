from slipstream.sdk.trigger_dagrun import TriggerDagRunOperator

__all__ = ["TriggerDagRunOperator"]
