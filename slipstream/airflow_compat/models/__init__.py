"""`airflow.models`: resolved lazily, as in Airflow, so importing it costs nothing."""

import importlib

_NAMES = {
    "DAG": "slipstream.sdk.dag",
    "DagModel": "slipstream.sdk.dag",
    "BaseOperator": "slipstream.sdk.operators",
    "Operator": "slipstream.sdk.operators",
    "Variable": "slipstream.sdk.variables",
    "Connection": "slipstream.sdk.connections",
    "Param": "slipstream.sdk.params",
    "ParamsDict": "slipstream.sdk.params",
    "XCom": "slipstream.sdk.xcom",
    "XComArg": "slipstream.sdk.xcom_arg",
    "TaskInstance": "slipstream.sdk.runtime",
    "DagRun": "slipstream.sdk.runtime",
    "Pool": "slipstream.sdk.runtime",
}


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'airflow.models' has no attribute {name!r}")


__all__ = sorted(_NAMES)
