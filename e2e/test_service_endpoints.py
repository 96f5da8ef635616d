"""End to end: the small controllers every cluster runs, seen through the real kubectl on
`mizzen up --nodes 2 --runtime simulated`: a Service over a Deployment gets Endpoints and
EndpointSlices that follow scaling; a new namespace gets its `default` ServiceAccount and the
`kube-root-ca.crt` ConfigMap holding the kubeconfig's CA."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
import yaml

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e

WEB = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: nginx
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: web, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {app: web}
---
apiVersion: v1
kind: Service
metadata: {name: external}
spec:
  ports: [{port: 5432}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: external}
subsets: [{addresses: [{ip: 192.0.2.10}], ports: [{port: 5432}]}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster.start(tmp_path_factory.mktemp("svc"), "--nodes", "2", "--runtime", "simulated") as c:
        yield c


def get(c: Cluster, *args: str) -> dict:
    return json.loads(c.kubectl("get", *args, "-o", "json").out)


def addresses(c: Cluster) -> list[str]:
    r = c.kubectl("get", "endpoints", "web", "-o", "jsonpath={.subsets[*].addresses[*].ip}", check=False)
    return sorted(r.out.split()) if r.code == 0 else []


def test_service_endpoints_follow_the_deployment(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("apply", "--validate=false", "-f", "-", input=WEB)
    c.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    ips = sorted(p["status"]["podIP"] for p in get(c, "pods", "-l", "app=web")["items"])
    assert len(ips) == 3
    c.wait_for(lambda: addresses(c) == ips, 15, what="3 ready addresses")

    table = c.kubectl("get", "endpoints", "web").out.splitlines()
    assert table[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    assert sorted(table[1].split()[1].split(",")) == sorted(f"{ip}:8080" for ip in ips)

    ep = get(c, "endpoints", "web")
    (subset,) = ep["subsets"]
    assert subset["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    pods = {p["metadata"]["name"]: p for p in get(c, "pods", "-l", "app=web")["items"]}
    for a in subset["addresses"]:
        pod = pods[a["targetRef"]["name"]]
        assert a["ip"] == pod["status"]["podIP"] and a["nodeName"] == pod["spec"]["nodeName"]
        assert a["targetRef"] == {"kind": "Pod", "namespace": "default", "name": pod["metadata"]["name"],
                                  "uid": pod["metadata"]["uid"]}
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]

    described = c.kubectl("describe", "svc", "web").out
    line = re.search(r"^Endpoints:\s+(\S+)$", described, re.M)
    assert line and sorted(line.group(1).split(",")) == sorted(f"{ip}:8080" for ip in ips)

    slices = get(c, "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    assert len(slices) == 1
    s = slices[0]
    assert re.fullmatch(r"web-[a-z0-9]{5}", s["metadata"]["name"])
    assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert s["addressType"] == "IPv4" and s["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    svc = get(c, "svc", "web")
    assert s["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert sorted(e["addresses"][0] for e in s["endpoints"]) == ips
    assert all(e["conditions"] == {"ready": True, "serving": True, "terminating": False} for e in s["endpoints"])
    listed = c.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web").out.splitlines()
    assert listed[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert listed[1].split()[1:3] == ["IPv4", "8080"]

    # A headless Service without ports: addresses and no ports, the headless label.
    def headless() -> dict:
        r = c.kubectl("get", "endpoints", "web-headless", "-o", "json", check=False)
        return json.loads(r.out) if r.code == 0 else {}
    c.wait_for(lambda: len((headless().get("subsets") or [{}])[0].get("addresses") or []) == 3, 15,
               what="headless endpoints")
    (h,) = headless()["subsets"]
    assert "ports" not in h and sorted(a["ip"] for a in h["addresses"]) == ips
    assert headless()["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}
    # A Service without a selector: its hand-written Endpoints are left as they are, and no
    # EndpointSlice is made for it.
    ext = get(c, "endpoints", "external")
    assert ext["subsets"] == [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432, "protocol": "TCP"}]}]
    assert get(c, "endpointslices", "-l", "kubernetes.io/service-name=external")["items"] == []

    c.kubectl("scale", "deployment/web", "--replicas=1")
    c.wait_for(lambda: len(addresses(c)) == 1, 20, what="one address")

    def one_slice_endpoint() -> bool:
        items = get(c, "endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
        return len(items) == 1 and len(items[0].get("endpoints") or []) == 1
    c.wait_for(one_slice_endpoint, 20, what="one endpoint in the slice")

    c.kubectl("delete", "svc", "web")
    c.wait_for(lambda: c.kubectl("get", "endpoints", "web", check=False).code != 0, 15, what="endpoints deleted")


def test_new_namespace_gets_default_serviceaccount_and_root_ca(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "namespace", "x")
    c.wait_for(lambda: c.kubectl("get", "sa", "default", "-n", "x", check=False).code == 0, 15,
               what="default ServiceAccount")
    c.wait_for(lambda: c.kubectl("get", "cm", "kube-root-ca.crt", "-n", "x", check=False).code == 0, 15,
               what="kube-root-ca.crt")
    cm = get(c, "cm", "kube-root-ca.crt", "-n", "x")
    kubeconfig = yaml.safe_load(c.kubeconfig.read_text())
    ca = base64.b64decode(kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    assert cm["data"] == {"ca.crt": ca}
    assert cm["metadata"]["annotations"]["kubernetes.io/description"].startswith("Contains a CA bundle")

    c.kubectl("delete", "sa", "default", "-n", "x")
    c.wait_for(lambda: c.kubectl("get", "sa", "default", "-n", "x", check=False).code == 0, 15,
               what="default ServiceAccount recreated")
    c.kubectl("delete", "cm", "kube-root-ca.crt", "-n", "x")
    c.wait_for(lambda: c.kubectl("get", "cm", "kube-root-ca.crt", "-n", "x", check=False).code == 0, 15,
               what="kube-root-ca.crt recreated")
    # The pre-existing namespaces have them too.
    assert c.kubectl("get", "sa", "default", "-n", "kube-system", check=False).code == 0
    assert c.kubectl("get", "cm", "kube-root-ca.crt", "-n", "default", check=False).code == 0
