"""Deprecated in Airflow 2: use airflow.operators.bash."""

from slipstream.sdk.deprecation import moved_classes_getattr

__getattr__ = moved_classes_getattr(__name__, {"BashOperator": "airflow.operators.bash.BashOperator"})
