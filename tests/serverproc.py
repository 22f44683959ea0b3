"""Run the real ``counterfoil serve`` in a subprocess, on 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

import httpx2 as httpx

from counterfoil.config import Settings
from pgserver import free_port


def env_for(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["COUNTERFOIL_HOME"] = str(settings.home)
    env["COUNTERFOIL_DATABASE_URL"] = settings.database_url
    return env


def run_cli(
    settings: Settings, *args: str, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        [sys.executable, "-m", "counterfoil.cli.main", *args],
        env=env_for(settings),
        input=stdin,
        capture_output=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"counterfoil {' '.join(args)} failed ({result.returncode}): "
            f"{result.stderr.decode()[-2000:]}"
        )
    return result


class Server:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.port = free_port()
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: BinaryIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "counterfoil.cli.main",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env_for(self.settings),
            stdout=self._log,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not answer /health in time")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
