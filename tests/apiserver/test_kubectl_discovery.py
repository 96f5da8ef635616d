"""The real kubectl reading our discovery and OpenAPI documents.

A tiny HTTP server in this process serves `/version`, discovery and OpenAPI exactly as
`apiserver.discovery` / `apiserver.openapi` build them, plus a dict of objects (POST stores,
GET returns, PATCH/PUT echo) so that `kubectl apply` gets far enough to show what it learnt
from the documents: server-side field validation, strategic merge for built-in kinds with
merge keys, merge patch for custom kinds. Independent of the API server proper, so a failure
here points at the documents."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from apimachinery.resources import Registry, ResourceInfo, Subresource
from apiserver import discovery, openapi

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")

CRONTAB = ResourceInfo("stable.example.com", "v1", "CronTab", "crontabs", short_names=("ct",),
                       subresources=(Subresource("status", "CronTab"),))
SCHEMAS = {"CronTab": {
    "type": "object", "description": "CronTab runs a command on a schedule.",
    "properties": {"spec": {"type": "object", "description": "What to run and when.", "properties": {
        "cronSpec": {"type": "string", "description": "The schedule, in cron format."},
        "replicas": {"type": "integer"}}}},
}}
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: IMAGE, ports: [{containerPort: 80}]}]
"""
CRONTAB_YAML = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: nightly}
spec: {cronSpec: "0 3 * * *", replicas: REPLICAS}
"""


@dataclass
class Served:
    registry: Registry
    requests: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # method, path, type, body
    objects: dict[str, dict] = field(default_factory=dict)


def _handler(state: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def reply(self, code: int, body: bytes, content_type: str = "application/json",
                  etag: str | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def not_found(self) -> None:
            self.reply(404, orjson.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                          "reason": "NotFound", "code": 404, "message": "not found"}))

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = urlsplit(self.path).path.rstrip("/")
            state.requests.append(("GET", path, self.headers.get("Accept", ""), b""))
            reg = state.registry
            parts = path.strip("/").split("/")
            doc: dict | None = None
            if path == "/version":
                doc = discovery.version_info()
            elif path in ("/api", "/apis") and discovery.wants_aggregated(self.headers.get("Accept")):
                body = orjson.dumps(discovery.aggregated_discovery(reg, path == "/api"))
                return self.reply(200, body, discovery.AGGREGATED_CONTENT_TYPE)
            elif path == "/api":
                doc = discovery.api_versions(reg)
            elif path == "/apis":
                doc = discovery.api_group_list(reg)
            elif parts[0] == "api" and len(parts) == 2:
                doc = discovery.api_resource_list(reg, "", parts[1])
            elif parts[0] == "apis" and len(parts) == 2:
                doc = discovery.api_group(reg, parts[1])
            elif parts[0] == "apis" and len(parts) == 3:
                doc = discovery.api_resource_list(reg, parts[1], parts[2])
            elif path == "/openapi/v3":
                doc = openapi.openapi_v3_index(reg, SCHEMAS)
            elif path.startswith("/openapi/v3/"):
                found = openapi.openapi_v3_path_document(reg, path.removeprefix("/openapi/v3/"), SCHEMAS)
                if found is not None:
                    return self.reply(200, found[0], etag=f'"{found[1]}"')
            elif path in state.objects:
                doc = state.objects[path]
            if doc is None:
                return self.not_found()
            self.reply(200, orjson.dumps(doc))

        def write(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
            path = urlsplit(self.path).path
            if self.command == "POST":
                obj = orjson.loads(body)
                obj["metadata"].setdefault("namespace", "default")
                obj["metadata"]["resourceVersion"] = "1"
                state.objects[f"{path}/{obj['metadata']['name']}"] = obj
                return self.reply(201, orjson.dumps(obj))
            if path not in state.objects:
                return self.not_found()
            self.reply(200, orjson.dumps(state.objects[path]))

        do_POST = do_PUT = do_PATCH = write  # noqa: N815

    return Handler


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    registry = Registry()
    registry.add(CRONTAB)
    state = Served(registry)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{server.server_address[1]}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u, namespace: default}}}}]
current-context: c
""")
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    try:
        yield state, env
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    assert KUBECTL is not None
    done = subprocess.run([KUBECTL, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_api_resources_from_aggregated_discovery(served: tuple[Served, dict[str, str]]) -> None:
    state, env = served
    rows = [line.split() for line in kubectl(env, "api-resources").splitlines()]
    assert ["pods", "po", "v1", "true", "Pod"] in rows
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in rows
    assert ["namespaces", "ns", "v1", "false", "Namespace"] in rows
    assert ["crontabs", "ct", "stable.example.com/v1", "true", "CronTab"] in rows
    # kubectl took the aggregated documents: no per-group-version requests
    paths = {p for _, p, _, _ in state.requests}
    assert {"/api", "/apis"} <= paths
    assert "/api/v1" not in paths and "/apis/apps/v1" not in paths
    everything = kubectl(env, "api-resources", "--categories=all", "-o", "name").split()
    assert {"pods", "deployments.apps", "services", "jobs.batch"} <= set(everything)
    assert "configmaps" not in everything


def test_explain_built_in_and_custom_kinds(served: tuple[Served, dict[str, str]]) -> None:
    _, env = served
    out = kubectl(env, "explain", "deployment.spec.strategy")
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "rollingUpdate\t<RollingUpdateDeployment>" in out
    assert "RollingUpdate" in out
    out = kubectl(env, "explain", "pods.spec.containers.resources")
    assert "limits\t<map[string]Quantity>" in out
    out = kubectl(env, "explain", "deploy.spec.strategy.rollingUpdate")
    assert "maxSurge\t<IntOrString>" in out
    out = kubectl(env, "explain", "deployment.spec")
    assert "template\t<PodTemplateSpec> -required-" in out
    out = kubectl(env, "explain", "crontabs.spec")
    assert "The schedule, in cron format." in out


def test_apply_uses_server_side_validation_and_the_right_patch_type(served: tuple[Served, dict[str, str]]) -> None:
    state, env = served
    kubectl(env, "apply", "-f", "-", stdin=DEPLOYMENT.replace("IMAGE", "nginx"))
    kubectl(env, "apply", "-f", "-", stdin=CRONTAB_YAML.replace("REPLICAS", "1"))
    kubectl(env, "apply", "-f", "-", stdin=DEPLOYMENT.replace("IMAGE", "nginx:2"))
    kubectl(env, "apply", "-f", "-", stdin=CRONTAB_YAML.replace("REPLICAS", "2"))
    writes = [(m, p, t, b) for m, p, t, b in state.requests if m != "GET"]
    assert [m for m, _, _, _ in writes] == ["POST", "POST", "PATCH", "PATCH"]
    # the documents told kubectl the server validates fields itself (else it would need /openapi/v2)
    assert all("fieldValidation=Strict" in p for _, p, _, _ in writes)
    _, path, content_type, body = writes[2]
    assert path.startswith("/apis/apps/v1/namespaces/default/deployments/web?")
    assert content_type == "application/strategic-merge-patch+json"
    patch = orjson.loads(body)
    assert patch["spec"]["template"]["spec"]["$setElementOrder/containers"] == [{"name": "web"}]
    assert patch["spec"]["template"]["spec"]["containers"] == [{"image": "nginx:2", "name": "web"}]
    _, path, content_type, body = writes[3]
    assert path.startswith("/apis/stable.example.com/v1/namespaces/default/crontabs/nightly?")
    assert content_type == "application/merge-patch+json"
    assert orjson.loads(body)["spec"] == {"replicas": 2}
