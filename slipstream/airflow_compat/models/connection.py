"""`airflow.models.connection`."""

from slipstream.sdk.connections import Connection

__all__ = ["Connection"]
