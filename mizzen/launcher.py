"""What `mizzen up` runs next to the API server: the controller manager, the scheduler, the
node lifecycle controller and the kubelets, each an ordinary API client of the server it was
given a kubeconfig for (they share the process and its event loop, not the server's state).

Node failure rehearsal: `mizzen node stop NAME` drops a file `<data-dir>/nodes/NAME.stopped`;
the launcher sees it and stops that node's kubelet (heartbeats and pod syncing stop, as
when a machine dies); `mizzen node start NAME` removes it and the kubelet comes back."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)
CONTROL_POLL = 0.5


def node_names(count: int) -> list[str]:
    return [f"node-{i}" for i in range(1, count + 1)]


def stopped_flag(data_dir: Path, node: str) -> Path:
    return data_dir / "nodes" / f"{node}.stopped"


async def start_components(args: argparse.Namespace, data_dir: Path, kubeconfig: Path,
                           stop: asyncio.Event) -> list[asyncio.Task[None]]:
    kc = str(kubeconfig)
    tasks: list[asyncio.Task[None]] = []

    def spawn(name: str, coro: Awaitable[None]) -> None:
        tasks.append(asyncio.create_task(_supervised(name, coro, stop), name=name))

    from controllers.manager import run_controller_manager
    spawn("controller-manager", run_controller_manager(kc, stop=stop))
    for name, start in _optional_controllers(args):
        spawn(name, start(kc, stop))
    names = node_names(args.nodes)
    for n in names:  # a stale flag from a previous run must not keep a node down
        stopped_flag(data_dir, n).unlink(missing_ok=True)
    if args.runtime == "simulated" and names:
        from apimachinery.client.rest import ApiClient
        from kubelet.simulated import SimulatedNodes
        client = ApiClient.from_kubeconfig(kc, user_agent="mizzen-kubelet-simulated")
        # Heartbeats a few times per grace period, so that a short grace period (rehearsals,
        # tests) does not mark healthy nodes NotReady.
        nodes = SimulatedNodes(client, names, lease_renew_seconds=min(10.0, args.node_monitor_grace_period / 4))

        async def run_nodes() -> None:
            try:
                await nodes.run(stop)
            finally:
                await client.close()
        spawn("kubelet-simulated", run_nodes())
        spawn("node-control", _node_control(data_dir, names, nodes.stop_node, nodes.start_node, stop))
        await _wait_registered(nodes.registered, tasks)
    elif args.runtime == "real" and names:
        from kubelet.agent import Kubelet, run_kubelet
        if len(names) > 1:
            log.warning("the real runtime runs one node per machine until pod networking links nodes; "
                        "starting %s only", names[0])
        started: asyncio.Future[Kubelet] = asyncio.get_running_loop().create_future()
        spawn("kubelet", run_kubelet(kc, node_name=names[0], data_dir=data_dir / "kubelet", stop=stop,
                                     cleanup=not args.keep_containers,
                                     on_started=lambda k: started.done() or started.set_result(k)))
        kubelet = await _first(started, tasks)
        if kubelet is not None:
            async def pause(_: str) -> None:
                kubelet.pause()

            async def resume(_: str) -> None:
                await kubelet.resume()
            spawn("node-control", _node_control(data_dir, names[:1], pause, resume, stop))
            await _wait_registered(kubelet.registered, tasks)
    return tasks


async def _first(fut: asyncio.Future, tasks: list[asyncio.Task[None]]):  # type: ignore[type-arg,no-untyped-def]
    """The future's result, or None when a component ended first (it failed)."""
    await asyncio.wait({fut, *tasks}, return_when=asyncio.FIRST_COMPLETED, timeout=60)
    return fut.result() if fut.done() else None


def _optional_controllers(args: argparse.Namespace) -> list[tuple[str, Callable[[str, asyncio.Event],
                                                                                 Awaitable[None]]]]:
    out: list[tuple[str, Callable[[str, asyncio.Event], Awaitable[None]]]] = []
    with contextlib.suppress(ImportError):
        from controllers.scheduler import run_scheduler
        out.append(("scheduler", lambda kc, stop: run_scheduler(kc, stop=stop)))
    with contextlib.suppress(ImportError):
        from controllers.nodelifecycle import run_node_lifecycle
        grace = args.node_monitor_grace_period
        out.append(("node-lifecycle", lambda kc, stop: run_node_lifecycle(
            kc, stop=stop, node_monitor_grace_period=grace)))
    with contextlib.suppress(ImportError):
        from controllers.disruption import run_disruption_controller
        out.append(("disruption", lambda kc, stop: run_disruption_controller(kc, stop=stop)))
    return out


async def _wait_registered(registered: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """`ready` is printed only once the nodes exist, so a test can schedule at once."""
    waiter = asyncio.ensure_future(registered.wait())
    await asyncio.wait({waiter, *tasks}, return_when=asyncio.FIRST_COMPLETED, timeout=60)
    waiter.cancel()


async def _supervised(name: str, coro: Awaitable[None], stop: asyncio.Event) -> None:
    """A component that fails takes the cluster down with a message, rather than leaving a
    cluster that looks up but no longer reconciles."""
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s failed; stopping the cluster", name)
        stop.set()


async def _node_control(data_dir: Path, names: list[str], stop_node: Callable[[str], Awaitable[None]],
                        start_node: Callable[[str], Awaitable[None]], stop: asyncio.Event) -> None:
    down: set[str] = set()
    while not stop.is_set():
        for n in names:
            flagged = stopped_flag(data_dir, n).exists()
            if flagged and n not in down:
                log.warning("node %s: kubelet stopped (mizzen node stop)", n)
                await stop_node(n)
                down.add(n)
            elif not flagged and n in down:
                log.warning("node %s: kubelet started (mizzen node start)", n)
                await start_node(n)
                down.discard(n)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONTROL_POLL)
