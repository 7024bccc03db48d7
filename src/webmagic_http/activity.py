"""Requests in flight in this process, so that background work can give way to them.

One server process answers requests on its event loop and in worker threads, and runs its
background jobs (the outbox relay above all) in worker threads too; they all share one
interpreter lock. During a burst of webhooks the relay, which turns each payment into two
mails, would take as much of the process as the webhooks themselves, and every webhook
would wait longer for its answer (the provider retries a slow one, which adds to the
burst). So the relay sends its next mail when no request is being answered, or once it has
waited ``at_most`` seconds: never starved, at worst paced to one mail per ``at_most``
while the server is saturated, and at full speed again as soon as the burst ends.
"""

from __future__ import annotations

import threading

# Per mail: with the relay's batch of 50, a paced batch takes at most 10 s, far inside
# the relay's lease on the messages it claimed (5 minutes).
GIVE_WAY_AT_MOST = 0.2


class RequestActivity:
    """Counts the requests being answered; ``give_way`` is for worker threads.

    ``started``/``finished`` run on the event loop only: the count is theirs alone, and
    the event a waiting worker sleeps on changes only when the count leaves or reaches
    zero (nothing per request while the server stays busy, and no polling)."""

    def __init__(self, *, at_most: float = GIVE_WAY_AT_MOST) -> None:
        if at_most < 0:
            raise ValueError("at_most must not be negative")
        self.at_most = at_most
        self.in_flight = 0
        self._idle = threading.Event()
        self._idle.set()

    def started(self) -> None:
        self.in_flight += 1
        if self.in_flight == 1:
            self._idle.clear()

    def finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def give_way(self) -> None:
        """Block the calling worker thread until no request is in flight, or ``at_most``
        seconds. Never call it on the event loop: it waits."""
        self._idle.wait(self.at_most)
