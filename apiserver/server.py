"""Running the API server: the store, TLS, the ASGI server (uvicorn with uvloop and
httptools), and the kubeconfig that points at it.

`run_apiserver` is what `mizzen apiserver` and `mizzen up` call; it serves until `stop` is
set, then shuts down cleanly: the HTTP server stops accepting, open watches end, the store
drains its pending writes and closes."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from apimachinery.gctune import tune_for_long_lived_heap
from apiserver import pki
from apiserver.app import APIServer, ServerConfig

log = logging.getLogger(__name__)


@dataclass
class Serving:
    server: APIServer
    url: str
    port: int
    kubeconfig: Path
    ca_file: Path


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def open_store(data_dir: Path):  # -> Store
    from apiserver.storage.sqlite import SQLiteStore
    return SQLiteStore(data_dir / "state.db")


def _prepare(data_dir: Path) -> tuple[Path, dict, bytes]:
    """Blocking first-start work (key generation): run in a thread."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return pki.ensure_pki(data_dir), pki.ensure_tokens(data_dir), pki.ensure_signing_key(data_dir)


async def run_apiserver(data_dir: Path, *, host: str = "127.0.0.1", port: int = 6443,
                        stop: asyncio.Event, on_ready: Callable[[Serving], Awaitable[None] | None] | None = None,
                        bookmark_interval: float = 30.0, default_toleration_seconds: int = 300,
                        disable_admission_plugins: tuple[str, ...] = ()) -> None:
    pki_dir, tokens, signing_key = await asyncio.to_thread(_prepare, data_dir)
    store = open_store(data_dir)
    await store.start()
    # Everything loaded at start (the store's objects) lives as long as the server: keep it
    # out of the garbage collector's generations, which would otherwise scan it again and again.
    gc.collect()
    gc.freeze()
    tune_for_long_lived_heap()
    api = APIServer(store, ServerConfig(tokens=tokens, signing_key=signing_key, bookmark_interval=bookmark_interval,
                                        default_toleration_seconds=default_toleration_seconds,
                                        disable_admission_plugins=disable_admission_plugins))
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    url = f"https://{host}:{actual_port}"
    kubeconfig = data_dir / "kubeconfig"
    pki.write_kubeconfig(kubeconfig, url, (pki_dir / "ca.crt").read_bytes(), pki.admin_token(tokens))
    from apiserver.proxy import websocket_protocol_class
    config = uvicorn.Config(api, loop="none", http="httptools", ws=websocket_protocol_class(),
                            lifespan="off", log_level="warning", proxy_headers=False,  # nothing proxies us
                            access_log=False, ssl_certfile=str(pki_dir / "apiserver.crt"),
                            ssl_keyfile=str(pki_dir / "apiserver.key"), ssl_version=ssl.PROTOCOL_TLS_SERVER,
                            timeout_keep_alive=120, timeout_graceful_shutdown=2, backlog=2048)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the CLI owns signals
    await api.start()
    serve = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serve.done():
                serve.result()
                return
            await asyncio.sleep(0.01)
        if on_ready is not None:
            r = on_ready(Serving(api, url, actual_port, kubeconfig, pki_dir / "ca.crt"))
            if r is not None:
                await r
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({serve, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
    finally:
        server.should_exit = True
        await api.stop()
        try:
            await asyncio.wait_for(serve, 10)
        except (TimeoutError, asyncio.CancelledError):
            serve.cancel()
        await store.close()
        sock.close()
