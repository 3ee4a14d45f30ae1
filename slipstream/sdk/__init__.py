"""What DAG files import. Shaped like Airflow's, so an Airflow DAG file ports by changing imports."""

from slipstream.sdk.dag import DAG
from slipstream.sdk.edges import Label
from slipstream.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    AirflowTaskTimeout,
    FailException,
    SkipException,
)
from slipstream.sdk.operators import (
    BaseOperator,
    BashOperator,
    DummyOperator,
    EmptyOperator,
    PythonOperator,
    TriggerRule,
)
from slipstream.sdk.relations import chain, chain_linear, cross_downstream
from slipstream.sdk.task_group import TaskGroup, task_group
from slipstream.sdk.venv import is_venv_installed

__all__ = [
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "BaseOperator",
    "BashOperator",
    "DummyOperator",
    "EmptyOperator",
    "FailException",
    "Label",
    "PythonOperator",
    "SkipException",
    "TaskGroup",
    "TriggerRule",
    "chain",
    "chain_linear",
    "cross_downstream",
    "is_venv_installed",
    "task_group",
]
