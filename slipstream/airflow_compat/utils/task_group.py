from slipstream.sdk.task_group import TaskGroup, TaskGroupContext

__all__ = ["TaskGroup", "TaskGroupContext"]
