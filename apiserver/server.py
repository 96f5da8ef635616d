"""Running the API server: the store, TLS, the HTTP server (apiserver.httpserver, on uvloop
and httptools), and the kubeconfig that points at it.

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
    from apiserver.httpserver import Server
    from apiserver.proxy import WebSocketUpgrades
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki_dir / "apiserver.crt", pki_dir / "apiserver.key")
    upgrades = WebSocketUpgrades(api)
    server = Server(api, ssl_context=tls, ws_protocol=upgrades, keep_alive=120.0)
    await api.start()
    await server.start(sock)
    try:
        if on_ready is not None:
            r = on_ready(Serving(api, url, actual_port, kubeconfig, pki_dir / "ca.crt"))
            if r is not None:
                await r
        await stop.wait()
    finally:
        # Stop accepting and end the open streams (watches end with the store's watches),
        # then give running requests a moment; WebSockets are closed with the rest.
        upgrades.shutdown()
        await asyncio.gather(server.shutdown(grace=2.0), api.stop())
        await store.close()
        sock.close()
