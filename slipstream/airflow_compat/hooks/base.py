"""`airflow.hooks.base`."""

from slipstream.sdk.connections import BaseHook

__all__ = ["BaseHook"]
