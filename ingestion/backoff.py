"""Waiting after a failure: exponential backoff with jitter, capped, for every live feed.

Every failure path of a feed (a refused or dropped connection, a device answering garbage or
exception responses, a followed file that cannot be read) waits ``next()`` seconds before it
tries again: the wait doubles from ``first_s`` up to ``cap_s``, and each wait is drawn between
half and all of it ("equal jitter"), so that many clients do not retry in step. A success
only resets it once the link has held for ``settle_s``: a device that accepts a connection and
then fails every read cannot pull a client into a reconnect storm.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first_s: float = 0.1
    cap_s: float = 5.0
    settle_s: float = 5.0
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    failures: int = 0  # consecutive failures since the last settled success
    _ok_since: float | None = None

    def next(self) -> float:
        """Record a failure; the seconds to wait before the next try."""
        self._ok_since = None
        ceiling = min(self.cap_s, self.first_s * 2.0**self.failures)
        self.failures += 1
        return ceiling / 2 + self.rng.random() * ceiling / 2

    def succeeded(self) -> None:
        """Record a success; the backoff starts again from ``first_s`` once successes have
        held for ``settle_s`` without a failure."""
        now = self.clock()
        if self._ok_since is None:
            self._ok_since = now
        if now - self._ok_since >= self.settle_s:
            self.failures = 0

    @property
    def ceiling_s(self) -> float:
        """The longest the next wait can be."""
        return min(self.cap_s, self.first_s * 2.0**self.failures)
