"""`mizzen`: the command line.

    mizzen up [--data-dir DIR] [--port N] [--nodes N --runtime simulated|real]
    mizzen apiserver [--data-dir DIR] [--port N]
    mizzen kubeconfig [--data-dir DIR]

`up` prints the kubeconfig path, then a line `ready` once the cluster serves; Ctrl-C or
SIGTERM shuts it down cleanly. Errors are printed as one line for a person, never as a
traceback (set MIZZEN_DEBUG=1 to see them)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger("mizzen")


def default_data_dir() -> Path:
    env = os.environ.get("MIZZEN_DATA_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "mizzen"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=None, help="state directory (default: $MIZZEN_DATA_DIR or "
                   "~/.local/share/mizzen)")
    p.add_argument("-v", "--verbose", action="store_true", help="log at debug level")


def _admission(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--disable-admission-plugins", default=default, metavar="PLUGINS",
                   help="comma-separated admission plug-ins to turn off, as kube-apiserver's flag (ServiceAccount: "
                   "no service account lookup, no kube-api-access token volume) "
                   f"(default: {default!r})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mizzen", description="A Kubernetes-compatible platform in Python.")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run a whole cluster (API server, controllers, scheduler, kubelets)")
    _common(up)
    up.add_argument("--port", type=int, default=6443, help="API server port on 127.0.0.1 (0 picks a free one)")
    up.add_argument("--nodes", type=int, default=1, help="number of nodes")
    up.add_argument("--runtime", choices=("simulated", "real", "none"), default="real",
                    help="node runtime: real processes, a simulated kubelet (no processes), or none")
    up.add_argument("--node-monitor-grace-period", type=float, default=40.0,
                    help="seconds without a node heartbeat before the node is NotReady")
    up.add_argument("--default-toleration-seconds", type=int, default=300,
                    help="tolerationSeconds added to pods for not-ready/unreachable taints")
    _admission(up, default="")
    up.add_argument("--keep-containers", action="store_true",
                    help="on shutdown, leave pod containers running (a restarted cluster adopts them); by default "
                    "every container, mount, cgroup and namespace is removed")

    api = sub.add_parser("apiserver", help="run the API server alone")
    _common(api)
    api.add_argument("--port", type=int, default=6443, help="port on 127.0.0.1 (0 picks a free one)")
    # Alone, the API server has no serviceaccount controller to create each namespace's
    # `default` ServiceAccount, so pods could never be admitted: as a bare kube-apiserver
    # (envtest, "Kubernetes the hard way") it runs without the ServiceAccount plug-in.
    _admission(api, default="ServiceAccount")

    kc = sub.add_parser("kubeconfig", help="print the kubeconfig path of a data directory")
    _common(kc)

    for name, what in (("controller-manager", "the controller manager"), ("scheduler", "the scheduler"),
                       ("kubelet", "a kubelet (real processes) for one node")):
        cp = sub.add_parser(name, help=f"run {what} against any cluster")
        cp.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster")
        cp.add_argument("-v", "--verbose", action="store_true")
        if name == "kubelet":
            cp.add_argument("--node-name", default="node-1")
            cp.add_argument("--data-dir", type=Path, default=None, help="kubelet state directory")
            cp.add_argument("--cleanup", action="store_true",
                            help="on exit, remove every container, mount, cgroup and namespace of this kubelet")

    image = sub.add_parser("image", help="the node's local image store: import, ls, rm")
    image.add_argument("action", choices=("import", "ls", "rm"))
    image.add_argument("ref", nargs="*", help="archive files to import (OCI or docker save), or image refs to remove")
    _common(image)

    node = sub.add_parser("node", help="stop or start a node's kubelet (rehearse a node failure)")
    node.add_argument("action", choices=("stop", "start"))
    node.add_argument("name", help="node name, e.g. node-2")
    _common(node)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = (getattr(args, "data_dir", None) or default_data_dir()).resolve()
    from mizzen.telemetry import setup_tracing
    setup_tracing(f"mizzen-{args.command}")
    try:
        if args.command == "kubeconfig":
            path = data_dir / "kubeconfig"
            if not path.exists():
                print(f"mizzen: no cluster in {data_dir} (run `mizzen up` first)", file=sys.stderr)
                return 1
            print(path)
            return 0
        if args.command in ("up", "apiserver"):
            return _run(_up(args, data_dir, components=args.command == "up"))
        if args.command in ("controller-manager", "scheduler", "kubelet"):
            return _run(_component(args, data_dir))
        if args.command == "node":
            return _node(args.action, args.name, data_dir)
        if args.command == "image":
            return _image(args.action, args.ref, data_dir)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the CLI prints what a person needs; MIZZEN_DEBUG=1 for the traceback
        if os.environ.get("MIZZEN_DEBUG"):
            raise
        print(f"mizzen {args.command}: {e}", file=sys.stderr)
        return 1
    return 2


def _image(action: str, refs: list[str], data_dir: Path) -> int:
    """`mizzen image import|ls|rm`: the store the kubelet of this data directory runs from."""
    from kubelet.images import ImageStore
    from kubelet.images.store import ImageError
    store = ImageStore(str(data_dir / "kubelet" / "images"))
    if action == "ls":
        rows = [("IMAGE", "TAG", "IMAGE ID", "SIZE")]
        for img in store.list():
            for tag in img.repo_tags or ["<none>:<none>"]:
                repo, _, t = tag.rpartition(":")
                rows.append((repo, t, img.id.removeprefix("sha256:")[:13], _size(img.size)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        return 0
    if not refs:
        print(f"mizzen image {action}: name at least one {'archive' if action == 'import' else 'image'}",
              file=sys.stderr)
        return 2
    code = 0
    for ref in refs:
        try:
            if action == "import":
                for img in store.import_archive(ref):
                    print(f"imported {', '.join(img.repo_tags) or img.id} ({img.id})")
            else:
                removed = store.remove(ref)
                if not removed:
                    print(f"mizzen image rm: no such image: {ref}", file=sys.stderr)
                    code = 1
                for r in removed:
                    print(f"deleted {r}")
        except (ImageError, OSError) as e:
            print(f"mizzen image {action} {ref}: {e}", file=sys.stderr)
            code = 1
    return code


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{n}B"
        n /= 1000  # type: ignore[assignment]
    return f"{n}B"


def _node(action: str, name: str, data_dir: Path) -> int:
    from mizzen.launcher import stopped_flag
    if not (data_dir / "kubeconfig").exists():
        print(f"mizzen: no cluster in {data_dir}", file=sys.stderr)
        return 1
    flag = stopped_flag(data_dir, name)
    if action == "stop":
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.touch()
        print(f"node/{name}: kubelet stopping (the node goes NotReady after the node monitor grace period)")
    else:
        flag.unlink(missing_ok=True)
        print(f"node/{name}: kubelet starting")
    return 0


async def _component(args: argparse.Namespace, data_dir: Path) -> int:
    """One component alone, against the cluster of --kubeconfig."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    kc = args.kubeconfig
    print(f"{args.command}: running against {kc}", flush=True)
    if args.command == "controller-manager":
        from controllers.manager import run_controller_manager
        await run_controller_manager(kc, stop=stop)
    elif args.command == "scheduler":
        from controllers.scheduler import run_scheduler
        await run_scheduler(kc, stop=stop)
    else:
        from kubelet.agent import run_kubelet  # type: ignore[import-not-found]
        await run_kubelet(kc, node_name=args.node_name, data_dir=data_dir / "kubelet", stop=stop,
                          cleanup=args.cleanup)
    return 0


COMPONENTS_STOP_SECONDS = 20.0


def _run(coro) -> int:  # type: ignore[no-untyped-def]
    from apimachinery.gctune import tune_for_long_lived_heap
    tune_for_long_lived_heap()  # every component holds caches of objects (see the module)
    try:
        import uvloop
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(coro)


async def _up(args: argparse.Namespace, data_dir: Path, components: bool) -> int:
    from apiserver.server import Serving, run_apiserver

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []

    async def on_ready(serving: Serving) -> None:
        print(f"kubeconfig: {serving.kubeconfig}", flush=True)
        print(f"server: {serving.url}", flush=True)
        if components:
            from mizzen.launcher import start_components
            tasks.extend(await start_components(args, data_dir, serving.kubeconfig, stop))
        print("ready", flush=True)

    # On Ctrl-C the components stop first, while the API server still answers them (leases
    # released, nodes marked, watches ended cleanly), then the API server.
    api_stop = asyncio.Event()

    async def stop_in_order() -> None:
        await stop.wait()
        print("stopping (pods being terminated get a few seconds, then every container is removed)"
              if tasks and not getattr(args, "keep_containers", False) else "stopping", flush=True)
        if tasks:
            await asyncio.wait(tasks, timeout=COMPONENTS_STOP_SECONDS)
        api_stop.set()

    orderly = asyncio.create_task(stop_in_order())
    try:
        await run_apiserver(data_dir, port=args.port, stop=api_stop, on_ready=on_ready,
                            default_toleration_seconds=getattr(args, "default_toleration_seconds", 300),
                            disable_admission_plugins=tuple(
                                p.strip() for p in args.disable_admission_plugins.split(",") if p.strip()))
    finally:
        stop.set()
        orderly.cancel()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
