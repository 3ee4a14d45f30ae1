"""FileSensor: done when a file (or a directory with files) matches the templated path."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from slipstream.sdk.exceptions import AirflowException, AirflowNotFoundException
from slipstream.sdk.sensors.base import BaseSensorOperator
from slipstream.sdk.triggers.file import FileTrigger, found


def _base_path(fs_conn_id: str) -> str:
    """The connection's extra "path" (Airflow's FSHook); fs_default is "/" when not defined."""
    from slipstream.sdk.connections import BaseHook

    try:
        connection = BaseHook.get_connection(fs_conn_id)
    except AirflowNotFoundException:
        if fs_conn_id == "fs_default":
            return "/"
        raise
    return connection.extra_dejson.get("path", "/")


class FileSensor(BaseSensorOperator):
    template_fields = ("filepath",)
    ui_color = "#91818a"

    def __init__(
        self,
        *,
        filepath: str,
        fs_conn_id: str = "fs_default",
        recursive: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    @property
    def path(self) -> str:
        return os.path.join(_base_path(self.fs_conn_id), self.filepath)

    def poke(self, context: dict[str, Any]) -> bool:
        pattern = self.path
        print(f"Poking for file {pattern}", flush=True)
        return found(pattern, self.recursive)

    def execute(self, context: dict[str, Any]) -> None:
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            # The wait moves to the triggerer, with the sensor's timeout as the trigger's.
            self.defer(
                trigger=FileTrigger(filepath=self.path, recursive=self.recursive, poke_interval=self.poke_interval),
                method_name="execute_complete",
                timeout=dt.timedelta(seconds=self.timeout),
            )
        return None

    def execute_complete(self, context: dict[str, Any], event: bool | None = None) -> None:
        if not event:
            raise AirflowException(f"{self.task_id} task failed as {self.filepath} not found.")
        print(f"{self.task_id} completed successfully as {self.filepath} found.", flush=True)
