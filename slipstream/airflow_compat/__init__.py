"""`airflow`, as DAG files see it inside Slipstream (see slipstream/airflow_namespace.py).

Every module under this folder is loaded under its Airflow name and only re-exports Slipstream's
task model; none is imported as `slipstream.airflow_compat...`.
"""

import warnings as _warnings

from slipstream.sdk.dag import DAG

__version__ = "2.10.5"

_LAZY = {
    "Dataset": ("slipstream.sdk.datasets", "Dataset"),
    "XComArg": ("slipstream.sdk.xcom_arg", "XComArg"),
}
_DEPRECATED = {"AirflowException": ("slipstream.sdk.exceptions", "AirflowException")}


def __getattr__(name):
    import importlib

    if name in _DEPRECATED:
        _warnings.warn(
            f"Import {name!r} directly from the airflow module is deprecated and will be removed in the future. "
            f"Please import it from 'airflow.exceptions.{name}'.",
            DeprecationWarning,
            stacklevel=2,
        )
        module, attr = _DEPRECATED[name]
        return getattr(importlib.import_module(module), attr)
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'airflow' has no attribute {name!r}")


__all__ = ["DAG", "Dataset", "XComArg", "__version__"]
