"""Deprecated in Airflow 2: the names resolve to their new modules with Airflow's DeprecationWarning."""

from slipstream.sdk.deprecation import moved_classes_getattr

__getattr__ = moved_classes_getattr(
    __name__,
    {
        "BaseSensorOperator": "airflow.sensors.base.BaseSensorOperator",
    },
)
