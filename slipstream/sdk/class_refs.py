"""Where Airflow 2.10.5 defines each operator class Slipstream provides: the stable API's `class_ref`.

Slipstream's classes live in slipstream.sdk; DAG files import them under Airflow's module names, and
the API shows those names (`airflow.operators.bash`), as Airflow does. A user's own class keeps its module.
"""

from __future__ import annotations

from typing import Any

_AIRFLOW_MODULES = {
    "BaseOperator": "airflow.models.baseoperator",
    "EmptyOperator": "airflow.operators.empty",
    "BashOperator": "airflow.operators.bash",
    "PythonOperator": "airflow.operators.python",
    "BranchPythonOperator": "airflow.operators.python",
    "ShortCircuitOperator": "airflow.operators.python",
    "PythonVirtualenvOperator": "airflow.operators.python",
    "BranchPythonVirtualenvOperator": "airflow.operators.python",
    "ExternalPythonOperator": "airflow.operators.python",
    "BranchExternalPythonOperator": "airflow.operators.python",
    "BaseBranchOperator": "airflow.operators.branch",
    "BranchDateTimeOperator": "airflow.operators.datetime",
    "BranchDayOfWeekOperator": "airflow.operators.weekday",
    "LatestOnlyOperator": "airflow.operators.latest_only",
    "TriggerDagRunOperator": "airflow.operators.trigger_dagrun",
    "_PythonDecoratedOperator": "airflow.decorators.python",
    "_BranchPythonDecoratedOperator": "airflow.decorators.branch_python",
    "_ShortCircuitDecoratedOperator": "airflow.decorators.short_circuit",
    "_BashDecoratedOperator": "airflow.decorators.bash",
    "DecoratedSensorOperator": "airflow.decorators.sensor",
    "BaseSensorOperator": "airflow.sensors.base",
    "BashSensor": "airflow.sensors.bash",
    "PythonSensor": "airflow.sensors.python",
    "TimeSensor": "airflow.sensors.time_sensor",
    "TimeSensorAsync": "airflow.sensors.time_sensor",
    "TimeDeltaSensor": "airflow.sensors.time_delta",
    "TimeDeltaSensorAsync": "airflow.sensors.time_delta",
    "DateTimeSensor": "airflow.sensors.date_time",
    "DateTimeSensorAsync": "airflow.sensors.date_time",
    "DayOfWeekSensor": "airflow.sensors.weekday",
    "ExternalTaskSensor": "airflow.sensors.external_task",
    "ExternalTaskMarker": "airflow.sensors.external_task",
    "FileSensor": "airflow.sensors.filesystem",
}


def class_ref(operator_class: type[Any]) -> dict[str, str]:
    """{"class_name", "module_path"}: Airflow's module for Slipstream's own classes, the class's otherwise."""
    name = operator_class.__name__
    module = operator_class.__module__ or ""
    if module.startswith("slipstream.") and name in _AIRFLOW_MODULES:
        module = _AIRFLOW_MODULES[name]
    return {"class_name": name, "module_path": module}
