"""What DAG files import. Shaped like Airflow's, so an Airflow DAG file ports by changing imports."""

from slipstream.sdk.dag import DAG
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


def chain(*tasks):
    """a >> b >> c for any number of tasks or lists of tasks."""
    for upstream, downstream in zip(tasks, tasks[1:], strict=False):
        if isinstance(upstream, list) and isinstance(downstream, list):
            if len(upstream) != len(downstream):
                raise ValueError("chain() needs lists of the same length to pair them up")
            for up, down in zip(upstream, downstream, strict=True):
                up >> down
        else:
            upstream >> downstream


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
    "PythonOperator",
    "SkipException",
    "TriggerRule",
    "chain",
]
