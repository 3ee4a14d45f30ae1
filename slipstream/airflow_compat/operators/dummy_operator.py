"""Deprecated in Airflow 2: the names resolve to EmptyOperator with Airflow's DeprecationWarning."""

from slipstream.sdk.deprecation import moved_classes_getattr

__getattr__ = moved_classes_getattr(
    __name__,
    {
        "DummyOperator": "airflow.operators.empty.EmptyOperator",
        "EmptyOperator": "airflow.operators.empty.EmptyOperator",
    },
)
