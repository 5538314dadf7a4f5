"""`flask serve` (make run's server): web and worker start together and stop together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_serve_started_elsewhere_runs_its_worker_and_sigterm_stops_both(
    tmp_path: Path, redis_url: str
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "serve-test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "REDIS_URL": redis_url,
    }
    serve = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", str(ROOT / "wsgi.py"), "serve", "--port",
         str(port)],
        cwd=tmp_path,  # not the checkout: the worker must still find the app
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        workers = _children(serve.pid)
        assert workers, "serve started no worker"
        time.sleep(2)  # a worker that cannot load the app exits within a second
        assert all(_alive(w) for w in workers), "the worker died at start"
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=20)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "the worker outlived serve"
    finally:
        if serve.poll() is None:
            serve.kill()
        for pid in _children(serve.pid):
            os.kill(pid, signal.SIGKILL)
