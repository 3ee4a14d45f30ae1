"""Airflow's old homes of chain and cross_downstream: they still work, with Airflow's warning."""

import warnings as _warnings

from slipstream.sdk.exceptions import RemovedInAirflow3Warning as _Removed
from slipstream.sdk.relations import chain as _chain
from slipstream.sdk.relations import cross_downstream as _cross_downstream
from slipstream.sdk.task_group import validate_group_key
from slipstream.sdk.task_group import validate_task_key as validate_key


def chain(*args, **kwargs):
    _warnings.warn(
        "This function is deprecated. Please use `airflow.models.baseoperator.chain`.", _Removed, stacklevel=2
    )
    return _chain(*args, **kwargs)


def cross_downstream(*args, **kwargs):
    _warnings.warn(
        "This function is deprecated. Please use `airflow.models.baseoperator.cross_downstream`.",
        _Removed,
        stacklevel=2,
    )
    return _cross_downstream(*args, **kwargs)


__all__ = ["chain", "cross_downstream", "validate_group_key", "validate_key"]
