from slipstream.sdk.state import State
from slipstream.states import DagRunState, TaskInstanceState

__all__ = ["DagRunState", "State", "TaskInstanceState"]
