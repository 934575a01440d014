"""Load drivers, each bounded in count and in time: the CQDaemon loops closed (as fast as the
server answers) or open (iterations started at a fixed offered rate), and bursts of one RPC.

Open loop: iteration k starts at its scheduled instant t_k (Poisson arrivals, fixed seed)
on the next project in turn; a project busy with its previous iteration makes it wait, and
the wait counts in the latency of its first call (measured from t_k, so a backlog is never
hidden: no coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

from bench.client import Recorder, RpcClient
from bench.cqdaemon import Daemon

__all__ = ["burst", "closed_loop", "open_loop"]

_GRACE_S = 10.0


async def closed_loop(
    daemons: Sequence[Daemon], client: RpcClient, *, seconds: float, max_iterations: int
) -> Recorder:
    """Every daemon loops back to back until `seconds` pass or `max_iterations` are done."""
    recorder = Recorder()
    end = time.perf_counter() + seconds
    budget = [max_iterations]

    async def run(daemon: Daemon) -> None:
        while time.perf_counter() < end and budget[0] > 0:
            budget[0] -= 1
            async with daemon.lock:
                ok = await daemon.iteration(client, recorder)
            recorder.iterations.append(1.0 if ok else 0.0)

    recorder.started = time.perf_counter()
    await asyncio.gather(*(run(daemon) for daemon in daemons))
    return recorder


async def open_loop(
    daemons: Sequence[Daemon],
    client: RpcClient,
    *,
    rate: float,
    seconds: float,
    seed: int = 8,
) -> Recorder:
    """Start iterations at `rate` per second for `seconds` (see the module docstring)."""
    recorder = Recorder()
    rng = random.Random(seed)
    tasks: list[asyncio.Task[None]] = []

    async def run(daemon: Daemon, intended: float) -> None:
        async with daemon.lock:
            ok = await daemon.iteration(client, recorder, intended=intended)
        recorder.iterations.append(time.perf_counter() - intended if ok else -1.0)

    start = time.perf_counter() + 0.05
    recorder.started = start
    scheduled = start
    index = 0
    while scheduled < start + seconds:
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        daemon = daemons[index % len(daemons)]
        tasks.append(asyncio.create_task(run(daemon, scheduled)))
        index += 1
        scheduled += rng.expovariate(rate)
    _, pending = await asyncio.wait(tasks, timeout=_GRACE_S) if tasks else (set(), set())
    for task in pending:
        task.cancel()
    recorder.offered = index / seconds
    return recorder


async def burst(
    client: RpcClient,
    method: str,
    request: Callable[[int], tuple[str, bytes]],
    *,
    count: int,
    concurrency: int,
    seconds: float,
) -> Recorder:
    """Closed-loop calls of `method` by `concurrency` workers; request i is `request(i)`."""
    recorder = Recorder()
    end = time.perf_counter() + seconds
    next_index = [0]

    async def worker() -> None:
        while time.perf_counter() < end and next_index[0] < count:
            index = next_index[0]
            next_index[0] += 1
            project, body = request(index)
            recorder.add(method, await client.call(method, project, body))

    recorder.started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return recorder
