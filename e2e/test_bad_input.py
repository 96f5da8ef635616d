"""Bad input gets the Status Kubernetes gives, and nothing already stored changes."""

from __future__ import annotations

import base64
import json

import pytest
import requests
import yaml

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e


class Raw:
    """Plain HTTPS requests with the admin token, to send what kubectl never would."""

    def __init__(self, c: Cluster):
        self.cluster = c
        cfg = yaml.safe_load(c.kubeconfig.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        self.base = cluster["server"]
        self.ca = c.kubeconfig.parent / "pki" / "ca.crt"
        self.headers = {"Authorization": f"Bearer {cfg['users'][0]['user']['token']}"}
        assert base64.b64decode(cluster["certificate-authority-data"]) == self.ca.read_bytes()

    def __call__(self, method: str, path: str, body: bytes | str | None = None,
                 content_type: str = "application/json", auth: bool = True) -> requests.Response:
        headers = {"Content-Type": content_type, **(self.headers if auth else {})}
        return requests.request(method, self.base + path, data=body, headers=headers, verify=str(self.ca),
                                timeout=30)


@pytest.fixture(scope="module")
def raw(apiserver: Cluster) -> Raw:
    r = Raw(apiserver)
    r("POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": "bad-input"}}))
    r("POST", "/api/v1/namespaces/bad-input/configmaps",
      json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"}, "data": {"a": "1"}}))
    return r


def _status(resp: requests.Response) -> dict:
    body = resp.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["code"] == resp.status_code
    return body


def _unchanged(raw: Raw) -> None:
    got = raw("GET", "/api/v1/namespaces/bad-input/configmaps/keep").json()
    assert got["data"] == {"a": "1"}
    names = [i["metadata"]["name"] for i in raw("GET", "/api/v1/namespaces/bad-input/configmaps").json()["items"]]
    assert names == ["keep"]


CM = "/api/v1/namespaces/bad-input/configmaps"


@pytest.mark.parametrize(("method", "path", "body", "ctype", "code", "reason", "text"), [
    ("POST", CM, "{not json", "application/json", 400, "BadRequest", "json parse error"),
    ("POST", CM, "a: [unclosed", "application/yaml", 400, "BadRequest", "error converting YAML to JSON"),
    ("POST", CM, '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}', "application/json", 400, "BadRequest",
     "the kind in the data (Secret) does not match the expected kind (ConfigMap)"),
    ("POST", CM, '{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}', "application/json", 400,
     "BadRequest", "does not match the expected API version"),
    ("POST", CM, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"UPPER"}}', "application/json", 422,
     "Invalid", 'metadata.name: Invalid value: "UPPER"'),
    ("POST", CM + "?fieldValidation=Strict", '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"dta":{}}',
     "application/json", 400, "BadRequest", 'strict decoding error: unknown field "dta"'),
    ("POST", CM, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep"}}', "application/json", 409,
     "AlreadyExists", 'configmaps "keep" already exists'),
    ("PUT", CM + "/keep", '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep","resourceVersion":"1"},'
     '"data":{"a":"2"}}', "application/json", 409, "Conflict", "the object has been modified"),
    ("PUT", CM + "/keep", '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}', "application/json", 400,
     "BadRequest", "does not match the name on the URL"),
    ("PATCH", CM + "/keep", '[{"op":"test","path":"/data/a","value":"9"},{"op":"replace","path":"/data/a","value":"3"}]',
     "application/json-patch+json", 422, "Invalid", "the server rejected our request due to an error in our request"),
    ("PATCH", CM + "/keep", '{"data":{"a":"4"}}', "text/plain", 415, "UnsupportedMediaType", ""),
    ("GET", CM + "?labelSelector=a%20in%20(", None, "application/json", 400, "BadRequest", "unable to parse requirement"),
    ("GET", CM + "?fieldSelector=spec.nodeName%3Dx", None, "application/json", 400, "BadRequest",
     '"spec.nodeName" is not a known field selector'),
    ("GET", CM + "/missing", None, "application/json", 404, "NotFound", 'configmaps "missing" not found'),
    ("GET", "/apis/nosuch.example.com/v1/widgets", None, "application/json", 404, "NotFound",
     "the server could not find the requested resource"),
    ("DELETE", "/api/v1/namespaces/bad-input/configmaps", None, "application/json", 200, "", ""),
])
def test_bad_request_gets_kubernetes_status(raw: Raw, method: str, path: str, body: str | None, ctype: str,
                                           code: int, reason: str, text: str) -> None:
    if method == "DELETE":  # deletecollection with a selector that matches nothing deletes nothing
        resp = raw(method, path + "?labelSelector=nothing%3Dhere")
        assert resp.status_code == 200 and resp.json()["items"] == []
    else:
        resp = raw(method, path, body, ctype)
        assert resp.status_code == code, resp.text
        status = _status(resp)
        assert status["reason"] == reason
        assert text in status["message"]
        if code == 422 and method == "PATCH":
            assert "testing value /data/a failed" in status["details"]["causes"][0]["message"]
    _unchanged(raw)


def test_oversized_object_is_refused(raw: Raw) -> None:
    # A ConfigMap over 1 MiB is refused by validation, as Kubernetes does.
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "y" * (1100 * 1024)}}
    resp = raw("POST", CM, json.dumps(big))
    assert resp.status_code == 422 and "Too long" in resp.text
    # Any object over 1.5 MiB is too large to store.
    tmpl = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "big"},
            "template": {"spec": {"containers": [{"name": "c", "image": "busybox",
                                                  "env": [{"name": "X", "value": "y" * (1600 * 1024)}]}]}}}
    resp = raw("POST", "/api/v1/namespaces/bad-input/podtemplates", json.dumps(tmpl))
    assert resp.status_code == 413
    assert _status(resp)["reason"] == "RequestEntityTooLarge"
    assert raw("GET", "/api/v1/namespaces/bad-input/podtemplates/big").status_code == 404
    huge = raw("POST", CM, b"{" + b" " * (4 * 1024 * 1024) + b"}")
    assert huge.status_code == 413
    _unchanged(raw)


def test_unauthenticated_is_401_but_health_is_open(raw: Raw) -> None:
    resp = raw("GET", CM, auth=False)
    assert resp.status_code == 401 and _status(resp)["reason"] == "Unauthorized"
    for path in ("/healthz", "/livez"):
        assert raw("GET", path, auth=False).text == "ok"
    # readyz: once the post-start work (the OpenAPI documents) is done, as kube-apiserver's
    raw.cluster.wait_for(lambda: raw("GET", "/readyz", auth=False).text == "ok", what="readyz ok")
    metrics = raw("GET", "/metrics").text
    assert 'apiserver_request_total{verb="CREATE"' in metrics
    assert "apiserver_request_duration_seconds_bucket" in metrics


def test_invalid_causes_name_each_field(raw: Raw) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"replicas": -1, "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}}}
    resp = raw("POST", "/apis/apps/v1/namespaces/bad-input/deployments", json.dumps(dep))
    assert resp.status_code == 422
    causes = {c["field"]: c for c in _status(resp)["details"]["causes"]}
    assert "spec.replicas" in causes and "spec.template.spec.containers[0].image" in causes
    assert causes["spec.template.spec.containers[0].image"]["reason"] == "FieldValueRequired"
    assert raw("GET", "/apis/apps/v1/namespaces/bad-input/deployments/d").status_code == 404
