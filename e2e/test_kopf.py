"""A kopf operator against mizzen: the operator users write for their CRDs works unchanged.

A tiny operator (written here, run with `kopf run --standalone` in a subprocess against the
cluster's kubeconfig) reacts to a Greeting's creation by creating a ConfigMap and writing the
Greeting's status; deleting the Greeting runs its deletion handler (kopf's finalizer) and the
object goes away."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing import Cluster

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: greetings.kopf.mizzen.dev
spec:
  group: kopf.mizzen.dev
  scope: Namespaced
  names: {plural: greetings, singular: greeting, kind: Greeting}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                name: {type: string}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
"""

OPERATOR = '''
import kopf
import kubernetes


@kopf.on.startup()
def configure(settings, **_):
    settings.posting.enabled = False
    settings.watching.server_timeout = 10


@kopf.on.create("kopf.mizzen.dev", "v1", "greetings")
def create_fn(spec, name, namespace, patch, **_):
    kubernetes.config.load_kube_config()
    body = kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name=f"greeting-{name}"),
        data={"text": f"hello {spec['name']}"})
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, body)
    patch.status["phase"] = "Greeted"
    return {"configmap": f"greeting-{name}"}


@kopf.on.delete("kopf.mizzen.dev", "v1", "greetings")
def delete_fn(name, namespace, **_):
    kubernetes.config.load_kube_config()
    kubernetes.client.CoreV1Api().delete_namespaced_config_map(f"greeting-{name}", namespace)
'''


@pytest.fixture()
def operator(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster.start(tmp_path, command="apiserver") as c:
        c.kubectl("apply", "-f", "-", input=CRD)
        c.kubectl("wait", "--for=condition=Established", "crd/greetings.kopf.mizzen.dev", "--timeout=30s")
        script = tmp_path / "operator.py"
        script.write_text(OPERATOR)
        log = (tmp_path / "operator.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", "default",
                                 str(script)], env=c.env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            yield c
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log.close()


def test_kopf_operator_reacts_to_a_custom_resource(operator: Cluster, tmp_path: Path) -> None:
    c = operator
    c.kubectl("apply", "-f", "-", input="apiVersion: kopf.mizzen.dev/v1\nkind: Greeting\n"
                                        "metadata: {name: hi}\nspec: {name: world}\n")

    def greeted() -> bool:
        r = c.kubectl("get", "greeting", "hi", "-o", "jsonpath={.status.phase}", check=False)
        return r.out == "Greeted"
    c.wait_for(greeted, timeout=60, interval=0.3, what=f"the operator's status ({tmp_path / 'operator.log'})")
    assert c.kubectl("get", "configmap", "greeting-hi", "-o", "jsonpath={.data.text}").out == "hello world"
    status = json.loads(c.kubectl("get", "greeting", "hi", "-o", "jsonpath={.status}").out)
    assert status["create_fn"] == {"configmap": "greeting-hi"}
    # kopf's finalizer holds the deletion until its delete handler has run.
    c.kubectl("delete", "greeting", "hi", "--timeout=60s")
    assert c.kubectl("get", "greeting", "hi", check=False).code == 1
    assert c.kubectl("get", "configmap", "greeting-hi", check=False).code == 1
