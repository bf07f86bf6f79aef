"""Group commit: many waiting requests share one transaction, each awaits its batch's commit.

Batches form by themselves: the writer flushes whatever is waiting as soon as it is free (no
linger timer, which would cap throughput), up to `max_batch` rows. The queue is bounded, so a
slow disk slows callers down instead of growing memory, and nothing is acknowledged before it
is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WriterClosed(Exception):
    pass


class GroupCommitWriter(Generic[T, R]):
    def __init__(self, write_batch: Callable[[list[T]], Awaitable[list[R]]], *,
                 max_batch: int = 500, max_pending: int = 20_000) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # for tests and /metrics
        self.rows = 0

    def start(self) -> None:
        self._closing = False  # storage may be reopened after close (a second lifespan)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def submit(self, item: T) -> R:
        while len(self._pending) >= self._max_pending:
            self._space.clear()
            await self._space.wait()
        if self._closing:
            raise WriterClosed("storage is shutting down")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wake.set()
        # shield: a client that hangs up must not cancel the write others share.
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # One turn of the loop (no timer): requests already read off their sockets reach
            # submit() and join this batch, instead of each paying a commit of its own.
            await asyncio.sleep(0)
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                self._space.set()
                try:
                    results = await self._write_batch([item for item, _ in batch])
                except Exception as exc:  # every caller of this batch learns it failed
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.batches += 1
                self.rows += len(batch)
                for (_, fut), res in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(res)
            if self._closing:
                return

    async def close(self) -> None:
        """Write what is waiting, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None


class LazyWriter(Generic[T, R]):
    """A group-commit writer started on first use and stopped, after flushing, on close.

    The e-mail engagement and beacon streams of every backend use one each: processes that
    never see a pixel or a beacon start no task for them, and a storage reopened after close
    starts a fresh one."""

    def __init__(self, write_batch: Callable[[list[T]], Awaitable[list[R]]], *,
                 max_batch: int = 500) -> None:
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._writer: GroupCommitWriter[T, R] | None = None

    async def submit(self, item: T) -> R:
        if self._writer is None:
            self._writer = GroupCommitWriter(self._write_batch, max_batch=self._max_batch)
            self._writer.start()
        return await self._writer.submit(item)

    async def close(self) -> None:
        w, self._writer = self._writer, None
        if w is not None:
            await w.close()
