"""`airflow.models.variable`."""

from slipstream.sdk.variables import Variable

__all__ = ["Variable"]
