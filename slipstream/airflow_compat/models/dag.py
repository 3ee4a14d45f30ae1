from slipstream.sdk.dag import DAG, DagContext

__all__ = ["DAG", "DagContext"]
