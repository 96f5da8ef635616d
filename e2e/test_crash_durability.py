"""kill -9 of the API server in the middle of a stream of concurrent writes, then restart:
every write that got a 2xx is there, and a watcher that resumes from its last
resourceVersion misses no event."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path

import aiohttp
import pytest
import yaml

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e


def _conn(kubeconfig: Path) -> tuple[str, dict[str, str], ssl.SSLContext]:
    import base64
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    return cluster["server"], {"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"}, ctx


async def _writer(server: str, headers: dict[str, str], ctx: ssl.SSLContext, acked: list[str],
                  stop: threading.Event, worker: int) -> None:
    async with aiohttp.ClientSession(headers=headers) as s:
        i = 0
        while not stop.is_set():
            name = f"w{worker}-{i}"
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"n": str(i)}}
            try:
                async with s.post(f"{server}/api/v1/namespaces/default/configmaps", json=body, ssl=ctx) as r:
                    if r.status == 201:
                        acked.append(name)
            except (aiohttp.ClientError, OSError):
                return
            i += 1


def test_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    c = Cluster.launch(tmp_path, command="apiserver")
    try:
        server, headers, ctx = _conn(c.kubeconfig)
        start_rv = c.kubectl("get", "cm", "-n", "default", "-o", "jsonpath={.metadata.resourceVersion}").out
        acked: list[str] = []
        stop = threading.Event()

        async def run() -> None:
            tasks = [asyncio.create_task(_writer(server, headers, ctx, acked, stop, w)) for w in range(16)]
            while len(acked) < 300:
                await asyncio.sleep(0.01)
            c.kill()  # kill -9 mid-stream
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(run())
        assert len(acked) >= 300
    finally:
        c.stop()
    c2 = Cluster.launch(tmp_path, command="apiserver", data_dir=c.data_dir)
    try:
        names = set(c2.kubectl("get", "cm", "-n", "default", "-o", "name").out.split())
        missing = [a for a in acked if f"configmap/{a}" not in names]
        assert missing == []
        # Every stored object is whole.
        for item in yaml.safe_load(c2.kubectl("get", "cm", "-n", "default", "-o", "yaml").out)["items"]:
            assert item["data"]["n"] == item["metadata"]["name"].split("-")[1]
        # A watcher resuming from before the crash sees every creation, in order, once.
        server, headers, ctx = _conn(c2.kubeconfig)

        async def resume() -> list[str]:
            seen: list[str] = []
            async with aiohttp.ClientSession(headers=headers) as s:
                url = (f"{server}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start_rv}"
                       "&timeoutSeconds=3")
                async with s.get(url, ssl=ctx) as r:
                    async for line in r.content:
                        import json
                        ev = json.loads(line)
                        assert ev["type"] == "ADDED"
                        seen.append(ev["object"]["metadata"]["name"])
            return seen

        seen = asyncio.run(resume())
        assert len(seen) == len(set(seen)) == len(names)
    finally:
        c2.stop()
