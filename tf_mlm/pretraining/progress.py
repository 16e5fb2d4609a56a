"""Progress of ``tf-mlm mask``: a tqdm bar on a terminal (records, tokens/s,
ETA from the bytes read), plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

MODES = ("auto", "bar", "log", "none")


def _human(n: float) -> str:
    """>>> _human(1234567), _human(950), _human(12500)
    ('1.2M', '950', '12.5k')
    """
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


def _clock(seconds: float) -> str:
    """>>> _clock(3725)
    '1:02:05'
    """
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Reports records, tokens/s and (when the input size is known) ETA.

    Args:
      mode: ``"bar"`` (tqdm), ``"log"`` (a line every ``interval`` seconds),
        ``"none"``, or ``"auto"``: a bar when ``stream`` is a terminal and
        tqdm is installed, else log lines.
      stream: where to write (default stderr).
      interval: seconds between log lines.
    """

    def __init__(
        self,
        mode: str = "auto",
        stream: Optional[TextIO] = None,
        interval: float = 10.0,
        desc: str = "mask",
    ):
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, got {mode!r}")
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "log"
        if mode == "bar":
            try:
                import tqdm  # noqa: F401  (is it installed?)
            except ImportError:
                mode = "log"
        self.mode = mode
        self.interval = interval
        self.desc = desc
        self.records = self.tokens = self.nbytes = 0
        self.total_bytes: Optional[int] = None
        self._bar = None
        self._start = self._last = 0.0

    def start(self, total_bytes: Optional[int]) -> None:
        self.total_bytes = total_bytes or None
        self._start = self._last = time.monotonic()
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total_bytes,
                unit="B",
                unit_scale=True,
                desc=self.desc,
                file=self.stream,
                mininterval=0.5,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"
                if self.total_bytes
                else "{desc}: [{elapsed}{postfix}]",
            )

    def update(self, records: int, tokens: int, nbytes: int) -> None:
        self.records += records
        self.tokens += tokens
        self.nbytes += nbytes
        now = time.monotonic()
        if self._bar is not None:
            if now - self._last >= 0.5:
                self._bar.set_postfix_str(self._postfix(now), refresh=False)
                self._last = now
            self._bar.update(nbytes)
        elif self.mode == "log" and now - self._last >= self.interval:
            self._last = now
            self.stream.write(f"{self.desc}: {self._postfix(now)}{self._eta(now)}\n")
            self.stream.flush()

    def _postfix(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        return (
            f"{_human(self.records)} records, {_human(self.tokens)} tokens, "
            f"{_human(self.tokens / elapsed)} tokens/s"
        )

    def _eta(self, now: float) -> str:
        if not self.total_bytes or not self.nbytes:
            return ""
        done = min(self.nbytes / self.total_bytes, 1.0)
        remaining = (now - self._start) * (1 - done) / max(done, 1e-9)
        return f", {done:.0%}, ETA {_clock(remaining)}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(time.monotonic()), refresh=False)
            self._bar.close()
            self._bar = None
