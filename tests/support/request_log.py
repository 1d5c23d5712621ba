"""What a webhook receiver records and answers: the requests it saw, the replies scripted for
the next ones, and waiting (from sync or async tests) until enough of them arrived.

Thread-safe: the receiver's server thread records, the test's thread reads and waits."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Predicate", "ReceivedRequest", "Reply", "RequestLog"]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # lower-cased names; the last value wins for repeated headers
    body: bytes
    received_at: float  # time.monotonic() when the request arrived
    remote_port: int | None = None  # client's source port: equal ports = same connection

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        return self.headers.get(name.lower(), default)

    def describe(self) -> str:
        """A one-line summary, used in failure messages."""
        target = self.path + (f"?{self.query_string}" if self.query_string else "")
        body = self.body[:200]
        more = "..." if len(self.body) > len(body) else ""
        return f"{self.method} {target} body={body!r}{more}"


@dataclass
class Reply:
    """A scripted response. ``delay_s`` is waited before answering (use a large one to hang)."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Predicate = Callable[[ReceivedRequest], bool]


class _Matcher:
    """Incrementally collects the requests matching a predicate (only new ones are examined)."""

    def __init__(self, predicate: Predicate | None) -> None:
        self.predicate = predicate
        self.matched: list[ReceivedRequest] = []
        self._scanned = 0
        self._generation = -1

    def update(self, requests: list[ReceivedRequest], generation: int) -> int:
        """Examine requests that arrived since the last call; return how many matched so far."""
        if generation != self._generation:  # the list was cleared: start over
            self._generation = generation
            self._scanned = 0
            self.matched = []
        new = requests[self._scanned :]
        self._scanned += len(new)
        if self.predicate is None:
            self.matched.extend(new)
        else:
            self.matched.extend(r for r in new if self.predicate(r))
        return len(self.matched)


class RequestLog:
    """Recorded requests and scripted replies. Replies come from the queue filled by
    :meth:`respond_with`, in order; when it is empty, :attr:`default_reply` is used."""

    def __init__(self, default_reply: Reply | None = None) -> None:
        self._cond = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._generation = 0  # bumped by clear()/reset()
        self._replies: deque[Reply] = deque()
        self._default_reply = default_reply if default_reply is not None else Reply()
        # Decides each reply from the request itself when set (queued replies come first).
        self.reply_for: Callable[[ReceivedRequest], Reply] | None = None

    # ------------------------------------------------------------------ scripting

    def respond_with(self, *responses: Reply) -> None:
        """Queue replies for the next requests, in order (appended after any still queued)."""
        with self._cond:
            self._replies.extend(responses)

    @property
    def default_reply(self) -> Reply:
        with self._cond:
            return self._default_reply

    @default_reply.setter
    def default_reply(self, reply: Reply) -> None:
        with self._cond:
            self._default_reply = reply

    @property
    def pending_replies(self) -> int:
        """How many queued replies have not been used yet."""
        with self._cond:
            return len(self._replies)

    def clear(self) -> None:
        """Forget the recorded requests (queued replies and ``default_reply`` are kept)."""
        with self._cond:
            self._requests.clear()
            self._generation += 1

    def reset(self) -> None:
        """Forget the recorded requests, drop queued replies and restore ``Reply()`` default."""
        with self._cond:
            self._requests.clear()
            self._generation += 1
            self._replies.clear()
            self._default_reply = Reply()

    def _record(self, request: ReceivedRequest) -> Reply:
        """Record one arrived request and take the reply it gets."""
        with self._cond:
            if self._replies:
                reply = self._replies.popleft()
            elif self.reply_for is not None:
                reply = self.reply_for(request)
            else:
                reply = self._default_reply
            self._requests.append(request)
            self._cond.notify_all()
        return reply

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot (copy) of the requests received so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    def _timeout_error(
        self, count: int, timeout: float, predicate: Predicate | None
    ) -> AssertionError:
        with self._cond:
            arrived = list(self._requests)
        matched = arrived if predicate is None else [r for r in arrived if predicate(r)]
        what = "matching requests" if predicate is not None else "requests"
        lines = [
            f"expected at least {count} {what} within {timeout:g} s, "
            f"got {len(matched)} (of {len(arrived)} received):"
        ]
        lines.extend(f"  {i}. {r.describe()}" for i, r in enumerate(arrived, 1))
        if not arrived:
            lines.append("  (nothing arrived)")
        return AssertionError("\n".join(lines))

    def wait_for(
        self,
        count: int,
        timeout: float = 10.0,
        predicate: Predicate | None = None,
    ) -> list[ReceivedRequest]:
        """Block until at least ``count`` (matching) requests arrived; return all matching ones.

        Raises AssertionError listing what did arrive if that does not happen within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        matcher = _Matcher(predicate)
        with self._cond:
            while True:
                if matcher.update(self._requests, self._generation) >= count:
                    return list(matcher.matched)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.1))
        raise self._timeout_error(count, timeout, predicate)

    async def await_for(
        self,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - mirrors wait_for()
        predicate: Predicate | None = None,
    ) -> list[ReceivedRequest]:
        """Like :meth:`wait_for`, but polls with ``asyncio.sleep`` so the event loop runs."""
        deadline = time.monotonic() + timeout
        matcher = _Matcher(predicate)
        while True:
            with self._cond:
                found = matcher.update(self._requests, self._generation)
            if found >= count:
                return list(matcher.matched)
            if time.monotonic() >= deadline:
                raise self._timeout_error(count, timeout, predicate)
            await asyncio.sleep(0.01)
