"""Micro-batching: concurrent requests are gathered for a short window (or until a batch is full) and answered
by ONE model call per batch, in a single worker thread, so that a loaded server approaches offline throughput.

>>> batcher = MicroBatcher(lambda key, x: {"proba": model(x)}, max_batch=64, window=0.005)   # doctest: +SKIP
>>> out = await batcher.submit("soft", images)                                             # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

__all__ = ["MicroBatcher"]


def _rows(out: dict, a: int, b: int) -> dict:
    """Rows a:b of a batch's outputs (arrays or DataFrames)."""
    return {k: v.iloc[a:b].reset_index(drop=True) if hasattr(v, "iloc") else v[a:b] for k, v in out.items()}


class MicroBatcher:
    """Gathers ``submit(key, images)`` calls for up to ``window`` seconds after the first (or ``max_batch``
    images), then calls ``run(key, all_images)`` once per key in one worker thread and hands each caller its rows.

    ``run`` returns a dict of arrays / DataFrames with one row per image. ``stats`` counts requests, images and
    model calls (``GET /health`` shows them)."""

    def __init__(self, run: Callable[[str, np.ndarray], dict], *, max_batch: int = 64, window: float = 0.005):
        self.run, self.max_batch, self.window = run, int(max_batch), float(window)
        self.stats = {"requests": 0, "images": 0, "model_calls": 0, "largest_batch": 0}
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="taxoclass-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def submit(self, key: str, images: np.ndarray) -> dict:
        """The model's outputs for ``images`` (N, H, W, C), computed in a batch with other callers'."""
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((key, images, fut))
        return await fut

    async def _gather(self) -> list:
        loop = asyncio.get_running_loop()
        items = [await self._queue.get()]
        n, deadline = len(items[0][1]), loop.time() + self.window
        while n < self.max_batch:
            left = deadline - loop.time()
            try:
                item = self._queue.get_nowait() if left <= 0 else await asyncio.wait_for(self._queue.get(), left)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            items.append(item)
            n += len(item[1])
        return items

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._gather()
            for key in dict.fromkeys(k for k, _, _ in items):
                group = [(x, fut) for k, x, fut in items if k == key]
                x = np.concatenate([x for x, _ in group])
                try:
                    out = await loop.run_in_executor(self._pool, self.run, key, x)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.stats["model_calls"] += 1
                self.stats["requests"] += len(group)
                self.stats["images"] += len(x)
                self.stats["largest_batch"] = max(self.stats["largest_batch"], len(x))
                start = 0
                for xi, fut in group:
                    if not fut.done():  # a caller that disconnected has cancelled its future
                        fut.set_result(_rows(out, start, start + len(xi)))
                    start += len(xi)
