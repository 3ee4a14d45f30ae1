from slipstream.sdk.triggers.base import (
    BaseTrigger,
    StartTriggerArgs,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

__all__ = ["BaseTrigger", "StartTriggerArgs", "TaskFailedEvent", "TaskSkippedEvent", "TaskSuccessEvent", "TriggerEvent"]
