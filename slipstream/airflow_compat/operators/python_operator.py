"""Deprecated in Airflow 2: use airflow.operators.python."""

from slipstream.sdk.deprecation import moved_classes_getattr

__getattr__ = moved_classes_getattr(
    __name__,
    {
        name: f"airflow.operators.python.{name}"
        for name in ("BranchPythonOperator", "PythonOperator", "PythonVirtualenvOperator", "ShortCircuitOperator")
    },
)
