"""Helpers for tests that run TensorFlow in other Python processes.

Every process started here is bounded in time and cleaned up even when the
test fails: it runs in its own process group, which is terminated (then
killed) on exit from :func:`started`. Server processes can additionally be
placed in a private network namespace whose only interface is loopback
(:class:`LoopbackNamespace`), because TensorFlow's gRPC servers listen on
every interface and have no option to bind 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

PYTHON = sys.executable
TESTS_DIR = Path(__file__).resolve().parent


def child_env(**extra: str) -> Dict[str, str]:
    """Environment for a child Python: quiet TensorFlow, CPU only, no GPU probing."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONUNBUFFERED"] = "1"
    env["TF_MLM_TEST_PARENT_PID"] = str(os.getpid())
    env.update(extra)
    return env


def die_with_parent() -> None:
    """Called first thing in a child started with :func:`child_env`: the
    child is killed when the test process dies, even by SIGKILL, so no
    server outlives a crashed or timed-out test run (Linux only)."""
    parent = os.environ.get("TF_MLM_TEST_PARENT_PID")
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != int(parent):  # the parent died before prctl
        os._exit(1)


def last_json_line(text: str):
    """The last line of ``text`` that parses as JSON (children print their result last)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except ValueError:
                continue
    raise AssertionError(f"no JSON result in child output:\n{text[-3000:]}")


def stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Terminates ``proc``'s process group; kills it if it outlives ``grace``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # The leader may be gone while children of its group live on.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)


def kill(proc: subprocess.Popen) -> None:
    """Kills ``proc``'s process group at once (SIGKILL: no clean shutdown)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


class Lines:
    """Collects a process's stdout lines on a thread, so readers can wait
    for a line with a timeout instead of blocking on the pipe."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: List[Optional[str]] = []
        self._next = 0  # first line not yet read by wait_for
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)  # end of stream
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float) -> Optional[str]:
        """The next unread line satisfying ``predicate`` (lines before it are
        consumed); ``None`` if the stream ends or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._next < len(self.lines):
                    line = self.lines[self._next]
                    if line is None:
                        return None
                    self._next += 1
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def text(self) -> str:
        with self._cond:
            return "\n".join(line for line in self.lines if line is not None)


@contextlib.contextmanager
def started(argv: Sequence[str], *, env=None, cwd=None) -> Iterator[subprocess.Popen]:
    """Starts ``argv`` in a new process group with stdout captured (stderr
    merged); always stops the whole group on exit."""
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env or child_env(),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        proc.lines = Lines(proc)
        yield proc
    finally:
        stop(proc)


class LoopbackNamespace:
    """A private network namespace whose only interface is loopback.

    TensorFlow's gRPC servers (tf.data service dispatcher and workers) listen
    on the wildcard address. Run inside such a namespace, they are reachable
    from 127.0.0.1 of that namespace only. ``prefix`` is the command prefix
    (``nsenter ...``) that runs a program inside it; it is empty, and
    ``reason`` says why, when the machine does not allow unprivileged
    namespaces (then servers are still addressed as 127.0.0.1 only).
    Set ``TF_MLM_TEST_NETNS=0`` to skip the namespace.
    """

    def __init__(self):
        self.prefix: List[str] = []
        self.reason = ""
        self._holder: Optional[subprocess.Popen] = None

    def __enter__(self) -> "LoopbackNamespace":
        if os.environ.get("TF_MLM_TEST_NETNS", "1") == "0":
            self.reason = "disabled by TF_MLM_TEST_NETNS=0"
            return self
        tools = [shutil.which(t) for t in ("unshare", "nsenter", "ip")]
        if not all(tools):
            self.reason = "unshare, nsenter or ip not found"
            return self
        unshare, nsenter, ip = tools
        holder = subprocess.Popen(
            [
                unshare,
                "--user",
                "--map-root-user",
                "--net",
                "sh",
                "-c",
                f"{ip} link set lo up && echo ready && read _",
            ],
            # The holder lives until its stdin closes: when we stop it, or die.
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            first = holder.stdout.readline().strip()
        except Exception:  # pragma: no cover - defensive
            first = ""
        if first != "ready":
            stop(holder)
            self.reason = f"cannot create a network namespace here: {first!r}"
            return self
        self._holder = holder
        prefix = [nsenter, "--preserve-credentials", "--user", "--net", "-t", str(holder.pid)]
        probe = subprocess.run(
            [*prefix, "true"], capture_output=True, text=True, timeout=20, check=False
        )
        if probe.returncode != 0:
            self.__exit__(None, None, None)
            self.reason = f"cannot enter the network namespace: {probe.stderr.strip()!r}"
            return self
        self.prefix = prefix
        return self

    def __exit__(self, *exc) -> None:
        if self._holder is not None:
            stop(self._holder)
            self._holder = None
