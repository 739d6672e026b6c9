"""Kubernetes API calls that ride out a bad minute: bounded exponential backoff with full jitter,
`Retry-After` honoured, every attempt within one overall deadline.

Retried: a connection that fails or drops (the API server restarting, a load balancer resetting),
429 Too Many Requests (API Priority and Fairness shedding load) and every 5xx. Anything else, 404
and 403 included, is an answer, not a hiccup: it is raised at once.

The backoff is "full jitter" (a random wait between 0 and min(cap, first x 2^attempt)), so the
parallel requests of one halt do not retry in lockstep; see "Exponential Backoff And Jitter",
AWS Architecture Blog, https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
`Retry-After` is read in both forms RFC 9110 section 10.2.3 allows (seconds, or an HTTP date).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from chaoslab.experiments.errors import ActionFailed

Result = TypeVar("Result")

TOO_MANY_REQUESTS = 429
FIRST_SERVER_ERROR = 500
# How long a halt keeps trying, in all: long enough to ride out an API server restart or a burst of
# 429s, short enough that an operator learns within half a minute that the stop button did not work.
HALT_DEADLINE_S = 30.0
# One request never waits longer than this for its answer: a hung API server must not use up the
# whole deadline on one attempt.
ATTEMPT_TIMEOUT_S = 10.0
# The last attempt still gets this long, even when the deadline is nearer: a request given a few
# milliseconds would fail for the deadline's sake, not the API's.
MIN_ATTEMPT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.1
    cap_s: float = 2.0

    def wait_s(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number `retry` (1 for the first retry)."""
        return rng.uniform(0.0, min(self.cap_s, self.first_s * 2 ** (retry - 1)))


BACKOFF = Backoff()


class Deadline:
    """A monotonic moment after which no new attempt starts."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining_s(self) -> float:
        return max(0.0, self._at - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.remaining_s() <= 0

    def give_up(self) -> None:
        """End it now: the API asked for a wait past it, so no request of this deadline retries again."""
        self._at = time.monotonic()

    def attempt_timeout_s(self) -> float:
        return min(ATTEMPT_TIMEOUT_S, max(MIN_ATTEMPT_TIMEOUT_S, self.remaining_s()))


class RetriesExhausted(ActionFailed):
    """A retryable failure that lasted past the deadline; `last` is the final attempt's error."""

    def __init__(self, last: BaseException, why: str) -> None:
        super().__init__(why)
        self.last = last


def is_retryable(error: BaseException) -> bool:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(error, ApiException):
        # status 0: the client raised it without an HTTP answer.
        return not error.status or error.status == TOO_MANY_REQUESTS or error.status >= FIRST_SERVER_ERROR
    return isinstance(error, (HTTPError, OSError))


def retry_after_s(error: BaseException) -> float | None:
    """The wait an answer's Retry-After header asks for, in seconds; None without a usable one."""
    headers: Any = getattr(error, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def call_with_retries(
    call: Callable[[float], Result],
    deadline: Deadline,
    *,
    backoff: Backoff = BACKOFF,
    rng: random.Random | None = None,
    on_attempt: Callable[[], None] = lambda: None,
) -> Result:
    """`call(timeout_s)` until it answers, a non-retryable error, or the deadline.

    `on_attempt` runs just before each attempt (to note when the request that counts went out).
    Raises the non-retryable error as it is, and RetriesExhausted when the deadline leaves no room
    for another attempt: the first attempt is always made.
    """
    rng = rng or random.Random()
    attempts = 0
    while True:
        attempts += 1
        on_attempt()
        try:
            return call(deadline.attempt_timeout_s())
        except Exception as error:
            if not is_retryable(error):
                raise
            asked_s = retry_after_s(error)
            wait_s = max(asked_s or 0.0, backoff.wait_s(attempts, rng))
            if asked_s is not None and asked_s >= deadline.remaining_s():
                deadline.give_up()
                raise RetriesExhausted(
                    error, f"the API asked to retry after {asked_s:g} s, past the {deadline.seconds:g} s deadline"
                ) from error
            if wait_s >= deadline.remaining_s():
                raise RetriesExhausted(error, f"retried until the {deadline.seconds:g} s deadline") from error
            time.sleep(wait_s)
