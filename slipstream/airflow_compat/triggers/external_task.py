from slipstream.sdk.triggers.external_task import DagStateTrigger, WorkflowTrigger

__all__ = ["DagStateTrigger", "WorkflowTrigger"]
