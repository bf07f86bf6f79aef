"""Sliding windows that every worker sees: rate limits and click bursts.

One worker keeps them in memory (`LocalWindows`, today's behaviour and the tests' default).
Several workers or hosts share them through Redis (`RedisWindows`): each operation is one
round trip, a short Lua script that Redis runs atomically, so two workers deciding at the same
moment cannot both take the last slot. `FailOpen` wraps Redis: when it does not answer, the
decision is taken on this worker's local windows and counted, so a pixel, click, beacon or
consent never fails because Redis did.

Times are the caller's (Unix seconds): they are the times stored with the events, and hosts
sharing a Redis are expected to keep their clocks in sync (NTP) to well under a window.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("consentry.windows")


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    retry_after: float = 0.0  # seconds until a slot frees up, when refused


class Windows(Protocol):
    backend: str  # "local" or "redis", for /metrics

    async def admit(self, key: str, limit: int, window: float, now: float) -> Admission:
        """Take a slot if fewer than `limit` were taken within `window` before `now`."""

    async def distinct(self, key: str, item: int, window: float, now: float) -> float | None:
        """Record `item` at `now`; if two or more distinct items fall within `window`, the
        time of the earliest of them (a burst and its start), else None."""

    async def once(self, key: str, window: float, now: float) -> bool:
        """True unless `key` was seen within `window` before `now`; every call renews it."""

    async def close(self) -> None: ...


# At most this many entries per `distinct` key: a scanner clicking thousands of times must not
# grow one message's window without bound; the burst is long decided by then.
DISTINCT_CAP = 64


class _Bounded(dict[str, Any]):
    """A dict that forgets its oldest key past `max_keys` (insertion order)."""

    def __init__(self, max_keys: int) -> None:
        super().__init__()
        self.max_keys = max_keys

    def make_room(self) -> None:
        while len(self) >= self.max_keys:
            self.pop(next(iter(self)))


class LocalWindows:
    """This process's windows, in memory; bounded to `max_keys` keys per kind."""

    backend = "local"

    def __init__(self, max_keys: int = 50_000) -> None:
        self._admit: _Bounded = _Bounded(max_keys)
        self._distinct: _Bounded = _Bounded(max_keys)
        self._once: _Bounded = _Bounded(max_keys)

    async def admit(self, key: str, limit: int, window: float, now: float) -> Admission:
        q: deque[float] | None = self._admit.get(key)
        if q is None:
            self._admit.make_room()
            q = self._admit[key] = deque()
        while q and q[0] <= now - window:
            q.popleft()
        if len(q) < limit:
            q.append(now)  # only admitted requests hold a slot: at most `limit` entries
            return Admission(True)
        return Admission(False, max(q[0] + window - now, 0.001))

    async def distinct(self, key: str, item: int, window: float, now: float) -> float | None:
        q: deque[tuple[float, int]] | None = self._distinct.get(key)
        if q is None:
            self._distinct.make_room()
            q = self._distinct[key] = deque(maxlen=DISTINCT_CAP)
        while q and now - q[0][0] > window:
            q.popleft()
        q.append((now, item))
        if len({i for _, i in q}) >= 2:
            return q[0][0]
        return None

    async def once(self, key: str, window: float, now: float) -> bool:
        last: float | None = self._once.get(key)
        if last is None:
            self._once.make_room()
        self._once[key] = now
        return last is None or now - last > window

    async def close(self) -> None:
        pass


# --- Redis ---------------------------------------------------------------------------------------
# Scores are milliseconds. Members carry a random suffix so equal timestamps stay distinct.

_ADMIT = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window))
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
"""

_DISTINCT = """
local now, window, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - window))
redis.call('ZADD', KEYS[1], now, ARGV[3] .. ':' .. ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(cap + 1))
redis.call('PEXPIRE', KEYS[1], math.ceil(window) + 1000)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local first = nil
for i = 1, #entries, 2 do
  local item = string.match(entries[i], '^([^:]*)')
  if first == nil then first = item elseif item ~= first then return entries[2] end
end
return false
"""

_ONCE = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local last = tonumber(redis.call('GET', KEYS[1]))
redis.call('SET', KEYS[1], ARGV[1], 'PX', math.ceil(window) + 1000)
if last and now - last <= window then return 0 end
return 1
"""


def _ms(seconds: float) -> int:
    # Whole milliseconds: exact in Redis scores and in Lua's number formatting.
    return round(seconds * 1000)


class RedisWindows:
    """Windows in Redis at `url`, keys under `prefix`. Errors propagate (see FailOpen)."""

    backend = "redis"

    def __init__(self, url: str, prefix: str = "consentry:", timeout: float = 0.5) -> None:
        import redis.asyncio as aioredis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.prefix = prefix
        # No retries and short timeouts: a request waits at most `timeout` for Redis before
        # FailOpen decides locally; redis-py's default retries would hold it for seconds.
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self._admit = self._redis.register_script(_ADMIT)
        self._distinct = self._redis.register_script(_DISTINCT)
        self._once = self._redis.register_script(_ONCE)

    async def admit(self, key: str, limit: int, window: float, now: float) -> Admission:
        wait_ms = await self._admit([self.prefix + key], [
            _ms(now), _ms(window), limit, secrets.token_hex(6)])
        wait = int(wait_ms)
        return Admission(True) if wait == 0 else Admission(False, wait / 1000)

    async def distinct(self, key: str, item: int, window: float, now: float) -> float | None:
        start = await self._distinct([self.prefix + key], [
            _ms(now), _ms(window), item, secrets.token_hex(6), DISTINCT_CAP])
        return None if start is None else float(start) / 1000

    async def once(self, key: str, window: float, now: float) -> bool:
        return bool(await self._once([self.prefix + key], [_ms(now), _ms(window)]))

    async def close(self) -> None:
        await self._redis.aclose()


class FailOpen:
    """Redis when it answers, else this worker's local windows (counted, logged once per
    outage). After a failure Redis is left alone for `pause` seconds, so an outage costs each
    request nothing rather than a refused connection (or a timeout) apiece."""

    backend = "redis"

    def __init__(self, shared: Windows, local: Windows | None = None, pause: float = 1.0) -> None:
        self.shared = shared
        self.local = local or LocalWindows()
        self.pause = pause
        self.errors = 0  # operations Redis failed
        self.fallbacks = 0  # decisions taken locally (failed or skipped during a pause)
        self._down_until = 0.0
        self._down = False

    async def _run(self, op: str, *args: Any) -> Any:
        if time.monotonic() < self._down_until:
            self.fallbacks += 1
            return await getattr(self.local, op)(*args)
        try:
            result = await getattr(self.shared, op)(*args)
        except Exception as exc:  # any failure of Redis must not fail the request
            self.errors += 1
            self.fallbacks += 1
            self._down_until = time.monotonic() + self.pause
            if not self._down:
                self._down = True
                log.warning("Redis not answering (%s: %s): rate limits and click bursts use "
                            "this worker's own windows until it does", type(exc).__name__, exc)
            return await getattr(self.local, op)(*args)
        if self._down:
            self._down = False
            log.warning("Redis answers again: windows are shared across workers")
        return result

    async def admit(self, key: str, limit: int, window: float, now: float) -> Admission:
        result: Admission = await self._run("admit", key, limit, window, now)
        return result

    async def distinct(self, key: str, item: int, window: float, now: float) -> float | None:
        result: float | None = await self._run("distinct", key, item, window, now)
        return result

    async def once(self, key: str, window: float, now: float) -> bool:
        result: bool = await self._run("once", key, window, now)
        return result

    async def close(self) -> None:
        await self.shared.close()


def open_windows(redis_url: str, prefix: str = "consentry:") -> Windows:
    """In-process windows, or Redis shared by every worker (failing open) when a URL is set."""
    if not redis_url:
        return LocalWindows()
    return FailOpen(RedisWindows(redis_url, prefix))


__all__ = ["Admission", "FailOpen", "LocalWindows", "RedisWindows", "Windows", "open_windows"]
