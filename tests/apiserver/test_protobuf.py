"""apiserver.protobuf: kubectl's protobuf request bodies decode into the JSON form of the object.

The fixtures are bodies the real kubectl v1.32 sent, each with the JSON the same kubectl printed
for the same command with `--dry-run=client -o json` (Kubernetes' own JSON encoding of the same
Go object). Hand-encoded messages cover what kubectl does not send: negative numbers, packed
lists, unknown fields, malformed bodies."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from apimachinery.errors import BadRequest, UnsupportedMediaType
from apiserver.protobuf import decode_message, decode_object, go_duration
from apiserver.protobuf_schema import load

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"


def fixture(name: str) -> dict[str, Any]:
    return decode_object((FIXTURES / f"{name}.pb").read_bytes())


def kubectl_json(name: str) -> Any:
    """kubectl's JSON without what we deliberately leave out: Go writes a zero Time as
    `null` (`creationTimestamp: null`) and a nil list without omitempty as `null`."""
    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if v is not None}
        if isinstance(o, list):
            return [strip(x) for x in o]
        return o
    return strip(json.loads((FIXTURES / f"{name}.json").read_text()))


# ------------------------------------------------------------------ a tiny encoder for the tests


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def vint(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes, **extra: str) -> bytes:
    body = ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw)
    if "content_encoding" in extra:
        body += ld(3, extra["content_encoding"])
    if "content_type" in extra:
        body += ld(4, extra["content_type"])
    return b"k8s\x00" + body


def entry(number: int, k: str, v: bytes | str) -> bytes:
    return ld(number, ld(1, k) + ld(2, v))


# ------------------------------------------------------------------ what kubectl really sends

KUBECTL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", KUBECTL_FIXTURES)
def test_decodes_as_kubectl_encodes_json(name: str) -> None:
    assert fixture(name) == kubectl_json(name)


def test_kubectl_fixture_table_covers_every_generator() -> None:
    assert {"deployment-web", "configmap", "secret-generic", "secret-tls", "secret-docker-registry",
            "namespace", "service-clusterip", "service-nodeport", "job", "cronjob", "serviceaccount",
            "role", "rolebinding", "clusterrole", "clusterrolebinding", "quota", "pdb-min-available",
            "priorityclass", "ingress", "hpa-autoscale"} <= set(KUBECTL_FIXTURES)


def test_deployment_fields_a_user_checks() -> None:
    d = fixture("deployment-web")
    assert (d["apiVersion"], d["kind"], d["metadata"]) == ("apps/v1", "Deployment", {"name": "web", "labels": {"app": "web"}})
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert c == {"name": "busybox", "image": "busybox", "ports": [{"containerPort": 8080}], "resources": {}}
    assert d["spec"]["strategy"] == {} and d["status"] == {}


def test_pointer_zero_is_kept_and_plain_zero_follows_omitempty() -> None:
    assert fixture("deployment-replicas-zero")["spec"]["replicas"] == 0  # *int32
    pc = fixture("priorityclass-zero")
    assert pc["value"] == 0  # int32 `json:"value"`: Go writes it
    assert "globalDefault" not in pc  # bool `json:"globalDefault,omitempty"`
    assert fixture("configmap")["data"] == {"a": "b", "empty": ""}


def test_secret_bytes_are_base64() -> None:
    s = fixture("secret-generic")
    assert s["data"] == {"a": base64.b64encode(b"b").decode()} and s["type"] == "Opaque"
    tls = fixture("secret-tls")
    assert tls["type"] == "kubernetes.io/tls"
    assert base64.b64decode(tls["data"]["tls.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")
    docker = json.loads(base64.b64decode(fixture("secret-docker-registry")["data"][".dockerconfigjson"]))
    assert docker["auths"]["r.example"]["username"] == "u"


def test_int_or_string_and_quantities() -> None:
    assert fixture("pdb-min-available")["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}
    assert fixture("pdb-max-unavailable")["spec"]["maxUnavailable"] == "50%"
    assert fixture("service-nodeport")["spec"]["ports"] == [
        {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}]
    assert fixture("quota")["spec"] == {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi"},
                                        "scopes": ["NotTerminating"]}


def test_inline_members_are_flattened() -> None:
    spec = fixture("job-from-rich-cronjob")["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in spec["volumes"]}  # Volume.volumeSource is `json:",inline"`
    assert vols["cfg"]["configMap"] == {"name": "cm", "items": [{"key": "a", "path": "a.txt"}],
                                        "defaultMode": 0o644, "optional": True}
    assert vols["tmp"] == {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
    main = spec["containers"][0]
    assert main["livenessProbe"]["httpGet"]["port"] == "http"  # Probe.handler is inline too
    assert main["resources"]["limits"] == {"cpu": "500m", "memory": "128Mi"}
    assert spec["tolerations"][1] == {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    assert spec["terminationGracePeriodSeconds"] == 0 and spec["automountServiceAccountToken"] is False


def test_reviews() -> None:
    assert fixture("selfsubjectaccessreview") == {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
        "status": {"allowed": False}}
    assert fixture("selfsubjectaccessreview-subresource")["spec"]["resourceAttributes"] == {
        "namespace": "kube-system", "verb": "list", "group": "apps", "resource": "deployments", "subresource": "scale"}
    assert fixture("selfsubjectaccessreview-nonresource")["spec"] == {
        "nonResourceAttributes": {"path": "/healthz", "verb": "get"}}
    assert fixture("selfsubjectrulesreview")["spec"] == {"namespace": "default"}
    assert fixture("selfsubjectreview") == {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                                            "metadata": {}, "status": {"userInfo": {}}}
    assert fixture("tokenrequest")["spec"] == {"audiences": ["a1"], "expirationSeconds": 600}


# ------------------------------------------------------------------ hand-encoded messages


def test_meta_times_owner_references_and_maps() -> None:
    owner = ld(1, "Deployment") + ld(3, "web") + ld(4, "uid-1") + ld(5, "apps/v1") + vint(6, 1) + vint(7, 0)
    meta = (ld(1, "x") + ld(2, "x-") + ld(3, "ns") + vint(7, 0) + ld(8, vint(1, 1700000000))
            + ld(9, vint(1, 1700000001) + vint(2, 5)) + vint(10, 0) + entry(11, "app", "web") + entry(12, "a", "")
            + ld(13, owner) + ld(14, "f1") + ld(14, "f2"))
    got = decode_object(envelope("v1", "ConfigMap", ld(1, meta) + entry(2, "k", "v") + entry(3, "bin", b"\x00\xff")
                                 + vint(4, 1)))
    assert got == {
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "x", "generateName": "x-", "namespace": "ns",
                     "creationTimestamp": "2023-11-14T22:13:20Z", "deletionTimestamp": "2023-11-14T22:13:21Z",
                     "deletionGracePeriodSeconds": 0, "labels": {"app": "web"}, "annotations": {"a": ""},
                     "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "uid-1", "apiVersion": "apps/v1",
                                          "controller": True, "blockOwnerDeletion": False}],
                     "finalizers": ["f1", "f2"]},
        "data": {"k": "v"}, "binaryData": {"bin": "AP8="}, "immutable": True}


def test_negative_numbers_and_unknown_fields_are_safe() -> None:
    # PriorityClass.value = -5 (ten-byte varint), then fields 99 of every wire type
    raw = (vint(2, -5) + vint(99, 7) + key(98, 1) + b"\x00" * 8 + key(97, 5) + b"\x00" * 4 + ld(96, b"\x01\x02")
           + ld(4, "d"))
    assert decode_object(envelope("scheduling.k8s.io/v1", "PriorityClass", raw)) == {
        "kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1", "value": -5, "description": "d"}


def test_packed_repeated_scalars() -> None:
    # Go's gogo encoder never packs, but proto2 decoders must accept both forms:
    # PodSecurityContext.supplementalGroups is a repeated int64.
    packed = ld(4, varint(1) + varint(2) + varint(300))
    unpacked = vint(4, 7)
    got = decode_message("k8s.io.api.core.v1.PodSecurityContext", packed + unpacked)
    assert got == {"supplementalGroups": [1, 2, 300, 7]}


@pytest.mark.parametrize(("nanos", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (300_000_000, "300ms"), (1_500_000_000, "1.5s"),
    (60_000_000_000, "1m0s"), (3_600_000_000_000, "1h0m0s"), (3_723_000_000_000, "1h2m3s"),
    (-2_000_000_000, "-2s"), (90_500_000_000, "1m30.5s"),
])
def test_go_duration(nanos: int, text: str) -> None:
    assert go_duration(nanos) == text


def test_micro_time_duration_and_raw_extension() -> None:
    # events.k8s.io/v1 Event.eventTime (MicroTime) = 2; ControllerRevision.data (RawExtension) = 2
    ev = decode_message("k8s.io.api.events.v1.Event", ld(2, vint(1, 1700000000) + vint(2, 123456000)))
    assert ev == {"eventTime": "2023-11-14T22:13:20.123456Z"}
    rev = decode_message("k8s.io.api.apps.v1.ControllerRevision", ld(2, ld(1, b'{"spec":{"x":1}}')) + vint(3, 2))
    assert rev == {"data": {"spec": {"x": 1}}, "revision": 2}
    assert decode_message("k8s.io.api.batch.v1.CronJobSpec", ld(1, "@hourly") + vint(2, 0)) == {
        "schedule": "@hourly", "startingDeadlineSeconds": 0}


@pytest.mark.parametrize(("body", "message"), [
    (b"{}", "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"),
    (b"k8s\x00" + ld(1, ld(1, "v1")), """the object provided is unrecognized (must be of type ConfigMap): """
     """Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:"v1", Kind:""}' (6b38730"""),
    (b"", "the object provided is unrecognized (must be of type ConfigMap): provided data does not appear "
     "to be a protobuf message, expected prefix [107 56 115 0] (<empty>)"),
    (b'{"kind": "ConfigMap"}', '[107 56 115 0] ({"kind": "ConfigMap"})'),
    (envelope("v1", "ConfigMap", ld(1, b"\x0a\x05ab")), 'ConfigMap in version "v1" cannot be handled as a ConfigMap: unexpected EOF'),
    (envelope("v1", "ConfigMap", vint(1, 3)), "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: proto: wrong wireType = 0 for field metadata"),
    (envelope("apps/v1", "Deployment", key(1, 3)), "proto: illegal wireType 3"),
    (b"k8s\x00\x0a\xff", "unexpected EOF"),
    (envelope("v1", "Namespace", ld(1, ld(1, b"\xff\xfe"))), "invalid UTF-8"),
])
def test_malformed_bodies_are_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as e:
        decode_object(body, "ConfigMap")
    assert e.value.code == 400 and message in e.value.message


def test_kinds_without_protobuf_form_are_415() -> None:
    with pytest.raises(UnsupportedMediaType) as e:
        decode_object(envelope("example.com/v1", "Widget", b""))
    assert e.value.code == 415
    with pytest.raises(UnsupportedMediaType):
        decode_object(envelope("v1", "NoSuchKind", b""))


def test_gzip_and_json_inner_content() -> None:
    import gzip
    raw = ld(1, ld(1, "ns1"))
    assert decode_object(envelope("v1", "Namespace", gzip.compress(raw), content_encoding="gzip"))["metadata"] == {"name": "ns1"}
    got = decode_object(envelope("v1", "Namespace", b'{"metadata":{"name":"j"}}', content_type="application/json"))
    assert got == {"metadata": {"name": "j"}, "apiVersion": "v1", "kind": "Namespace"}


def test_schema_field_numbers_match_generated_proto() -> None:
    """Spot checks against k8s.io/api's generated.proto (v1.32)."""
    m = load().messages
    def row(msg: str, n: int) -> tuple[str, str]:
        f = m[msg].fields[n]
        return f.json, f.ref or f.type
    assert row("k8s.io.api.core.v1.Container", 19) == ("envFrom", "k8s.io.api.core.v1.EnvFromSource")
    assert row("k8s.io.api.core.v1.PodSpec", 20) == ("initContainers", "k8s.io.api.core.v1.Container")
    assert row("k8s.io.api.apps.v1.DeploymentSpec", 9) == ("progressDeadlineSeconds", "int32")
    assert row("k8s.io.api.networking.v1.IngressServiceBackend", 2) == (
        "port", "k8s.io.api.networking.v1.ServiceBackendPort")
    assert row("k8s.io.api.authorization.v1.ResourceAttributes", 7) == ("name", "string")
    assert row("k8s.io.api.authentication.v1.TokenRequestSpec", 3) == (
        "boundObjectRef", "k8s.io.api.authentication.v1.BoundObjectReference")
    assert row("k8s.io.api.autoscaling.v2.HorizontalPodAutoscalerSpec", 4) == (
        "metrics", "k8s.io.api.autoscaling.v2.MetricSpec")
    assert m["k8s.io.api.core.v1.Volume"].fields[2].inline
    assert load().type_for("rbac.authorization.k8s.io", "v1", "RoleBinding") == "k8s.io.api.rbac.v1.RoleBinding"
    assert load().type_for("", "v1", "Pod") == "k8s.io.api.core.v1.Pod"


def test_slice_messages_in_maps_are_lists() -> None:
    # SubjectAccessReviewSpec.extra is map<string, ExtraValue>; ExtraValue is a Go []string
    extra = ld(5, ld(1, "scopes") + ld(2, ld(1, "a") + ld(1, "b")))
    got = decode_message("k8s.io.api.authorization.v1.SubjectAccessReviewSpec", ld(3, "jane") + extra)
    assert got == {"user": "jane", "extra": {"scopes": ["a", "b"]}}


@pytest.mark.parametrize(("raw", "want"), [
    (ld(1, vint(1, 0) + vint(2, 0)), {"minAvailable": 0}),  # *IntOrString set to 0: kept
    (ld(3, vint(1, 1) + ld(3, "10%")), {"maxUnavailable": "10%"}),
    (ld(1, vint(1, 0) + vint(2, 2)) + ld(4, "AlwaysAllow"), {"minAvailable": 2, "unhealthyPodEvictionPolicy": "AlwaysAllow"}),
])
def test_pointer_int_or_string(raw: bytes, want: dict[str, Any]) -> None:
    assert decode_message("k8s.io.api.policy.v1.PodDisruptionBudgetSpec", raw) == want


def test_unset_struct_values_are_left_out() -> None:
    # ServicePort.targetPort is a non-pointer IntOrString: a zero one means "not set";
    # ObjectMeta.creationTimestamp is a non-pointer Time: Go writes its zero as null
    port = decode_message("k8s.io.api.core.v1.ServicePort", ld(1, "") + ld(2, "TCP") + vint(3, 80) + ld(4, vint(1, 0) + vint(2, 0)) + vint(5, 0))
    assert port == {"protocol": "TCP", "port": 80}
    assert decode_message("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", ld(1, "x") + ld(8, b"")) == {"name": "x"}
