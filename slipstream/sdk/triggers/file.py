"""FileTrigger: fires once a file (or a directory holding files) matches a glob (FileSensor(deferrable=True))."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from glob import glob
from typing import Any

from slipstream.sdk.triggers.base import BaseTrigger, TriggerEvent


def found(pattern: str, recursive: bool) -> bool:
    for path in glob(pattern, recursive=recursive):
        if os.path.isfile(path):
            return True
        for _root, _dirs, files in os.walk(path):
            if files:
                return True
    return False


class FileTrigger(BaseTrigger):
    def __init__(self, filepath: str, recursive: bool = False, poke_interval: float = 5.0, **kwargs: Any):
        super().__init__()
        self.filepath = filepath
        self.recursive = recursive
        self.poke_interval = kwargs.get("poll_interval") or poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "slipstream.sdk.triggers.file.FileTrigger",
            {"filepath": self.filepath, "recursive": self.recursive, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            if await asyncio.to_thread(found, self.filepath, self.recursive):
                yield TriggerEvent(True)
                return
            await asyncio.sleep(self.poke_interval)
