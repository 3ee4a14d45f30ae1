from slipstream.sdk.branching import BranchPythonOperator, ShortCircuitOperator
from slipstream.sdk.decorators import get_current_context
from slipstream.sdk.operators import PythonOperator
from slipstream.sdk.unsupported import (
    BranchExternalPythonOperator,
    BranchPythonVirtualenvOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from slipstream.sdk.venv import is_venv_installed

__all__ = [
    "BranchExternalPythonOperator",
    "BranchPythonOperator",
    "BranchPythonVirtualenvOperator",
    "ExternalPythonOperator",
    "PythonOperator",
    "PythonVirtualenvOperator",
    "ShortCircuitOperator",
    "get_current_context",
    "is_venv_installed",
]
