"""BashSensor: poke by running a bash script; exit code 0 means done."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from slipstream.sdk.exceptions import AirflowFailException
from slipstream.sdk.sensors.base import BaseSensorOperator


class BashSensor(BaseSensorOperator):
    template_fields = ("bash_command", "env")

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code

    def poke(self, context: dict[str, Any]) -> bool:
        bash = shutil.which("bash") or "/bin/bash"
        with tempfile.TemporaryDirectory(prefix="slipstreamtmp") as tmp_dir:
            script = os.path.join(tmp_dir, "sensor.sh")
            with open(script, "w") as handle:
                handle.write(self.bash_command)
            print(f"Tmp dir root location: {tempfile.gettempdir()}", flush=True)
            print(f"Running command: {self.bash_command}", flush=True)
            process = subprocess.Popen(
                [bash, script],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=tmp_dir,
                env=self.env if self.env is not None else None,
                start_new_session=True,
            )
            assert process.stdout is not None
            for raw in iter(process.stdout.readline, b""):
                print(raw.decode(self.output_encoding, "backslashreplace").rstrip(), flush=True)
            returncode = process.wait()
        print(f"Command exited with return code {returncode}", flush=True)
        if self.retry_exit_code is not None:
            if returncode == self.retry_exit_code:
                print("Return code matches retry code, will retry later", flush=True)
                return False
            if returncode != 0:
                raise AirflowFailException(f"Command exited with return code {returncode}")
        return not returncode
