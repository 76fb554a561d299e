"""Adaptive batching for the HTTP service: requests that arrive together are answered by one call of the model.

Each request encodes its own inputs, hands the array to the batcher and awaits its rows of the outputs. One
background task runs the model (in a thread, so the service keeps reading requests meanwhile) on everything
that is waiting, up to a maximum number of rows. While requests come one at a time the model is called at once,
adding no delay; as soon as a call finds more than one request waiting, later calls wait up to a few
milliseconds for more, because under load a fuller batch answers more inputs per second (the way Triton's and
BentoML's dynamic batchers work). A model that answers a batch in well under a millisecond (a small table
network) is called in the event loop itself: handing it to a thread and back would cost more than the call.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

ModelFunction = Callable[[np.ndarray], np.ndarray]
INLINE_SECONDS = 0.0005  # a model call shorter than this, on average, runs in the event loop


class Batcher:
    """Gathers the encoded inputs of concurrent requests into batches for one model function."""

    def __init__(self, model: ModelFunction, max_rows: int = 64, max_wait: float = 0.002,
                 chunk: int = 512, on_batch: Callable[[int, int], None] | None = None):
        self.model, self.max_rows, self.max_wait, self.chunk = model, max_rows, max_wait, chunk
        self.on_batch = on_batch  # told (rows, requests) of every call, for the service's figures
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.busy = False  # whether the last call found several requests waiting
        self.call_seconds = 1.0  # running average of a model call; the first calls go to the thread
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self.task = self.loop.create_task(self._serve())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, x: np.ndarray) -> np.ndarray:
        """Give back the model's outputs for x, computed with whatever other requests are waiting."""
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.loop is not loop:
            self.start()  # on the first request, in the loop that serves them
        assert self.queue is not None
        future = loop.create_future()
        self.queue.put_nowait((x, future))
        return await future

    def _call(self, x: np.ndarray) -> np.ndarray:
        # A large request (up to the service's input limit) is run in chunks, to bound the memory of one call.
        started = time.perf_counter()
        outputs = np.concatenate([self.model(x[i:i + self.chunk]) for i in range(0, len(x), self.chunk)])
        self.call_seconds = 0.8 * self.call_seconds + 0.2 * (time.perf_counter() - started)
        return outputs

    async def _gather(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        assert self.queue is not None
        waiting = [await self.queue.get()]
        rows = len(waiting[0][0])
        deadline = asyncio.get_running_loop().time() + (self.max_wait if self.busy else 0.0)
        while rows < self.max_rows:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), left)
                except TimeoutError:
                    break
            waiting.append(item)
            rows += len(item[0])
        self.busy = len(waiting) > 1
        return [(x, future) for x, future in waiting if not future.done()]  # a request that timed out is dropped

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            waiting = await self._gather()
            # Inputs of another shape (texts of another padded length) cannot share an array: one call per shape.
            groups: dict[tuple, list[tuple[np.ndarray, asyncio.Future]]] = {}
            for x, future in waiting:
                groups.setdefault((x.shape[1:], x.dtype.str), []).append((x, future))
            for group in groups.values():
                batch = np.concatenate([x for x, _ in group]) if len(group) > 1 else group[0][0]
                try:
                    if self.call_seconds < INLINE_SECONDS:
                        outputs = self._call(batch)
                    else:
                        outputs = await loop.run_in_executor(self.executor, self._call, batch)
                except Exception as error:  # every request of the batch gets the error; the service goes on
                    for _, future in group:
                        if not future.done():
                            future.set_exception(error)
                    continue
                if self.on_batch is not None:
                    self.on_batch(len(batch), len(group))
                start = 0
                for x, future in group:
                    if not future.done():
                        future.set_result(outputs[start:start + len(x)])
                    start += len(x)
