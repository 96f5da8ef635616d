"""Field management as Kubernetes does it: FieldsV1, set algebra, Update ownership and
server-side apply (merge, prune, conflicts, force, client-side apply upgrade)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apimachinery.errors import StatusError
from apiserver import fieldmanager as fmod
from apiserver.fieldmanager import FieldManager, paths
from apiserver.fieldpath import decode_fields_v1, encode_fields_v1, path_string, sorted_paths

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"
FM = FieldManager()


def deployment(replicas: int | None = 2, image: str = "nginx:1.25", labels: dict[str, str] | None = None,
               **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": image}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    spec.update(extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels if labels is not None else {"app": "web"}}, "spec": spec}


def entries(obj: dict[str, Any]) -> dict[tuple[str, str, str], list[str]]:
    """(manager, operation, subresource) -> the readable paths it owns."""
    return {(e["manager"], e["operation"], e.get("subresource", "")): paths(e["fieldsV1"])
            for e in obj["metadata"].get("managedFields", [])}


def conflict(fn: Any) -> StatusError:
    with pytest.raises(StatusError) as info:
        fn()
    assert info.value.code == 409
    return info.value


# ------------------------------------------------------------------ FieldsV1 and paths

FIELDS_V1_CASES = [
    ({"f:spec": {"f:replicas": {}}}, {("f:spec", "f:replicas")}),
    ({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
     {("f:metadata", "f:labels"), ("f:metadata", "f:labels", "f:app")}),
    ({"f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}}}},
     {("f:spec", "f:containers", 'k:{"name":"web"}'), ("f:spec", "f:containers", 'k:{"name":"web"}', "f:image")}),
    ({"f:metadata": {"f:finalizers": {".": {}, 'v:"a/b"': {}}}},
     {("f:metadata", "f:finalizers"), ("f:metadata", "f:finalizers", 'v:"a/b"')}),
    ({}, set()),
]


@pytest.mark.parametrize(("fields_v1", "expected"), FIELDS_V1_CASES)
def test_fields_v1_round_trip(fields_v1: dict[str, Any], expected: set[tuple[str, ...]]) -> None:
    assert decode_fields_v1(fields_v1) == expected
    assert encode_fields_v1(expected) == fields_v1


def test_decoding_canonicalizes_keys_a_client_sent_back() -> None:
    got = decode_fields_v1({"f:ports": {'k:{"protocol": "TCP", "containerPort": 80}': {}}})
    assert got == {("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}')}


@pytest.mark.parametrize(("path", "text"), [
    (("f:spec", "f:replicas"), ".spec.replicas"),
    (("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:image"),
     '.spec.template.spec.containers[name="web"].image'),
    (("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'), '.spec.ports[port=80,protocol="TCP"]'),
    (("f:metadata", "f:finalizers", 'v:"x"'), '.metadata.finalizers[="x"]'),
    (("f:metadata", "f:labels", "f:app.kubernetes.io/name"), ".metadata.labels.app.kubernetes.io/name"),
])
def test_path_strings_as_kubernetes_prints_them(path: tuple[str, ...], text: str) -> None:
    assert path_string(path) == text


def test_set_order_members_before_deeper_paths() -> None:
    got = sorted_paths({("f:spec", "f:template", "f:spec"), ("f:spec", "f:replicas"), ("f:metadata", "f:labels")})
    assert got == [("f:metadata", "f:labels"), ("f:spec", "f:replicas"), ("f:spec", "f:template", "f:spec")]


# ------------------------------------------------------------------ set algebra over objects

APPLY_SET_CASES = [
    ("labels are owned key by key, not the map",
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}},
     [".data.k", ".metadata.labels.a"]),
    ("list items by key, with the item itself and the key field",
     deployment(), [".metadata.labels.app", ".spec.replicas", ".spec.selector",
                    ".spec.template.metadata.labels.app", '.spec.template.spec.containers[name="web"]',
                    '.spec.template.spec.containers[name="web"].image',
                    '.spec.template.spec.containers[name="web"].name']),
    ("a port key takes protocol's default",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
     [".spec.ports[port=80,protocol=\"TCP\"]", ".spec.ports[port=80,protocol=\"TCP\"].port"]),
    ("atomic lists and atomic maps are one field",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
      "spec": {"selector": {"app": "x"}, "externalIPs": ["1.2.3.4"]}},
     [".spec.externalIPs", ".spec.selector"]),
    ("finalizers are a set", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a"]}},
     ['.metadata.finalizers[="a"]']),
    ("an empty struct is owned itself",
     {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
      "spec": {"containers": [{"name": "c", "resources": {}}]}},
     ['.spec.containers[name="c"]', '.spec.containers[name="c"].name', '.spec.containers[name="c"].resources']),
    ("no schema: maps by key, lists whole",
     {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
      "spec": {"size": 3, "tags": ["a", "b"], "deep": {"x": 1}}},
     [".spec.size", ".spec.tags", ".spec.deep.x"]),
]


@pytest.mark.parametrize(("what", "config", "expected"), APPLY_SET_CASES, ids=[c[0] for c in APPLY_SET_CASES])
def test_applied_field_sets(what: str, config: dict[str, Any], expected: list[str]) -> None:
    obj = FM.apply(None, config, "m", force=False, now=T0)
    assert sorted(entries(obj)[("m", "Apply", "")]) == sorted(expected)


MERGE_CASES = [
    ("maps merge, the configuration wins",
     {"data": {"a": "1", "b": "2"}}, {"data": {"b": "3", "c": "4"}}, {"data": {"a": "1", "b": "3", "c": "4"}}),
    ("containers merge by name, live-only items stay in place",
     {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}},
     {"spec": {"containers": [{"name": "b", "image": "2"}]}},
     {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}),
    ("new items are appended after the shared ones",
     {"spec": {"containers": [{"name": "a", "image": "1"}]}},
     {"spec": {"containers": [{"name": "a"}, {"name": "z", "image": "9"}]}},
     {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "z", "image": "9"}]}}),
    ("atomic lists are replaced",
     {"spec": {"containers": [{"name": "a", "args": ["x", "y"]}]}},
     {"spec": {"containers": [{"name": "a", "args": ["z"]}]}},
     {"spec": {"containers": [{"name": "a", "args": ["z"]}]}}),
    ("a null removes the field",
     {"spec": {"hostname": "h", "subdomain": "s"}}, {"spec": {"hostname": None}}, {"spec": {"subdomain": "s"}}),
]


@pytest.mark.parametrize(("what", "live", "config", "expected"), MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_merge(what: str, live: dict[str, Any], config: dict[str, Any], expected: dict[str, Any]) -> None:
    t = fmod._resolve("V1Pod") if "spec" in live else fmod._resolve("V1ConfigMap")
    before = copy.deepcopy(live)
    assert fmod.merge(live, config, t) == expected
    assert live == before


COMPARE_CASES = [
    ("scalar changed", {"spec": {"replicas": 1}}, {"spec": {"replicas": 2}}, [], [".spec.replicas"], []),
    ("label added to a new map", {"metadata": {}}, {"metadata": {"labels": {"a": "1"}}},
     [".metadata.labels", ".metadata.labels.a"], [], []),
    ("list item removed", {"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}},
     {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}},
     [], [], ['.spec.template.spec.containers[name="b"]', '.spec.template.spec.containers[name="b"].name']),
    ("equal objects", deployment(), deployment(), [], [], []),
]


@pytest.mark.parametrize(("what", "lhs", "rhs", "added", "modified", "removed"), COMPARE_CASES,
                         ids=[c[0] for c in COMPARE_CASES])
def test_compare(what: str, lhs: dict[str, Any], rhs: dict[str, Any], added: list[str], modified: list[str],
                 removed: list[str]) -> None:
    c = fmod.compare(lhs, rhs, fmod._resolve("V1Deployment"))
    assert sorted(path_string(p) for p in c.added) == sorted(added)
    assert sorted(path_string(p) for p in c.modified) == sorted(modified)
    assert sorted(path_string(p) for p in c.removed) == sorted(removed)


# ------------------------------------------------------------------ Update


def test_create_owns_every_field_and_new_maps_themselves() -> None:
    obj = FM.update(None, deployment(), "kubectl-create", api_version="apps/v1", now=T0)
    [entry] = obj["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType")} == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1"}
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    # spec existed in the zero object: it is not owned itself, only what is in it.
    assert "." not in entry["fieldsV1"]["f:spec"]
    assert entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"] == {
        'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}


def test_update_takes_changed_fields_from_other_managers() -> None:
    live = FM.update(None, deployment(), "creator", api_version="apps/v1", now=T0)
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 5
    FM.update(live, new, "scaler", api_version="apps/v1", now=T1)
    got = entries(new)
    assert got[("scaler", "Update", "")] == [".spec.replicas"]
    assert ".spec.replicas" not in got[("creator", "Update", "")]


def test_update_that_changes_nothing_keeps_managed_fields_as_they_are() -> None:
    live = FM.update(None, deployment(), "creator", api_version="apps/v1", now=T0)
    new = FM.update(live, copy.deepcopy(live), "other", api_version="apps/v1", now=T1)
    assert new["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_removed_fields_leave_every_manager() -> None:
    live = FM.update(None, deployment(labels={"app": "web", "tier": "x"}), "creator", api_version="apps/v1", now=T0)
    new = copy.deepcopy(live)
    del new["metadata"]["labels"]["tier"]
    FM.update(live, new, "editor", api_version="apps/v1", now=T1)
    assert ".metadata.labels.tier" not in entries(new)[("creator", "Update", "")]
    assert ("editor", "Update", "") not in entries(new)  # removing alone owns nothing


def test_status_writes_own_status_only_and_main_writes_never_do() -> None:
    live = FM.update(None, deployment(), "creator", api_version="apps/v1", now=T0)
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 2}
    new["spec"]["replicas"] = 9  # the status strategy would undo this; it is never owned
    FM.update(live, new, "controller", subresource="status", api_version="apps/v1", now=T1)
    assert entries(new)[("controller", "Update", "status")] == [".status.replicas"]
    main = copy.deepcopy(live)
    main["status"] = {"replicas": 3}
    FM.update(live, main, "writer", api_version="apps/v1", now=T1)
    assert ("writer", "Update", "") not in entries(main)


def test_managed_fields_sent_by_a_client_replace_the_live_ones_and_empty_entry_resets() -> None:
    live = FM.update(None, deployment(), "creator", api_version="apps/v1", now=T0)
    edited = copy.deepcopy(live)
    edited["metadata"]["managedFields"] = [{"manager": "someone", "operation": "Apply", "apiVersion": "apps/v1",
                                            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    FM.update(live, edited, "kubectl", api_version="apps/v1", now=T1)
    assert entries(edited) == {("someone", "Apply", ""): [".spec.replicas"]}
    # `[]` is ignored (clients that drop the field must not wipe it), `[{}]` resets...
    kept = copy.deepcopy(live)
    kept["metadata"]["managedFields"] = []
    assert FM.update(live, kept, "x", api_version="apps/v1", now=T1)["metadata"]["managedFields"]
    reset = copy.deepcopy(live)
    reset["metadata"]["managedFields"] = [{}]
    FM.update(live, reset, "x", api_version="apps/v1", now=T1)
    assert "managedFields" not in reset["metadata"]
    # ...and an untracked object stays untracked by updates until the next apply.
    later = copy.deepcopy(reset)
    later["spec"]["replicas"] = 4
    FM.update(reset, later, "x", api_version="apps/v1", now=T2)
    assert "managedFields" not in later["metadata"]


def test_at_most_ten_update_managers_the_oldest_become_ancient_changes() -> None:
    obj = FM.update(None, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}},
                    "creator", api_version="v1", now="2026-01-01T00:00:00Z")
    for i in range(12):
        new = copy.deepcopy(obj)
        new["data"][f"k{i}"] = "v"
        obj = FM.update(obj, new, f"m{i:02d}", api_version="v1", now=f"2026-01-01T00:{i + 1:02d}:00Z")
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert managers[0] == "ancient-changes"
    assert managers[-1] == "m11"
    ancient = obj["metadata"]["managedFields"][0]
    assert {".data.k0", ".data.k1"} <= set(paths(ancient["fieldsV1"]))


# ------------------------------------------------------------------ Apply


def test_apply_creates_and_reapply_is_a_no_op() -> None:
    obj = FM.apply(None, deployment(), "kubectl", force=False, api_version="apps/v1", now=T0)
    assert obj["spec"]["replicas"] == 2
    [entry] = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["time"]) == (
        "kubectl", "Apply", "apps/v1", T0)
    again = FM.apply(obj, deployment(), "kubectl", force=False, api_version="apps/v1", now=T1)
    assert again == obj


def test_two_managers_share_fields_they_apply_with_the_same_value() -> None:
    obj = FM.apply(None, deployment(), "alice", force=False, now=T0)
    obj = FM.apply(obj, deployment(), "bob", force=False, now=T1)
    got = entries(obj)
    assert ".spec.replicas" in got[("alice", "Apply", "")] and ".spec.replicas" in got[("bob", "Apply", "")]
    # alice stops applying replicas: bob still owns it, so it stays.
    obj = FM.apply(obj, deployment(replicas=None), "alice", force=False, now=T2)
    assert obj["spec"]["replicas"] == 2
    assert ".spec.replicas" not in entries(obj)[("alice", "Apply", "")]


def test_conflict_with_an_updater_has_kubernetes_message_and_causes() -> None:
    obj = FM.apply(None, deployment(), "kubectl", force=False, now=T0)
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 5
    FM.update(obj, scaled, "kubectl", subresource="scale", api_version="apps/v1", now=T1)
    err = conflict(lambda: FM.apply(scaled, deployment(replicas=3), "kubectl", force=False, now=T2))
    assert err.message == ('Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
                           "using apps/v1: .spec.replicas")
    assert err.reason == "Conflict"
    assert (err.details or {})["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                      "message": 'conflict with "kubectl" with subresource "scale" using apps/v1'}]


def test_several_conflicts_are_listed_per_manager() -> None:
    obj = FM.apply(None, deployment(), "m1", force=False, now=T0)
    err = conflict(lambda: FM.apply(obj, deployment(replicas=3, image="nginx:2"), "m2", force=False, now=T1))
    assert err.message == ('Apply failed with 2 conflicts: conflicts with "m1":\n- .spec.replicas\n'
                           '- .spec.template.spec.containers[name="web"].image')


def test_applying_the_live_value_is_no_conflict() -> None:
    obj = FM.apply(None, deployment(), "m1", force=False, now=T0)
    FM.apply(obj, deployment(), "m2", force=False, now=T1)


def test_force_moves_ownership() -> None:
    obj = FM.apply(None, deployment(), "m1", force=False, now=T0)
    obj = FM.apply(obj, deployment(replicas=7), "m2", force=True, now=T1)
    assert obj["spec"]["replicas"] == 7
    got = entries(obj)
    assert ".spec.replicas" in got[("m2", "Apply", "")]
    assert ".spec.replicas" not in got[("m1", "Apply", "")]


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them() -> None:
    obj = FM.apply(None, deployment(labels={"app": "web", "tier": "front"}), "kubectl", force=False, now=T0)
    obj = FM.apply(obj, deployment(), "kubectl", force=False, now=T1)
    assert obj["metadata"]["labels"] == {"app": "web"}
    # A label another manager set stays when the applier never applied it.
    other = copy.deepcopy(obj)
    other["metadata"]["labels"]["team"] = "a"
    FM.update(obj, other, "kubectl-label", api_version="apps/v1", now=T1)
    obj = FM.apply(other, deployment(labels={}), "kubectl", force=False, now=T2)
    assert obj["metadata"]["labels"] == {"team": "a"}


def test_a_container_is_merged_by_name_and_removed_when_no_longer_applied() -> None:
    two = deployment()
    two["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    obj = FM.apply(None, two, "kubectl", force=False, now=T0)
    # Another manager sets a field in the web container: the apply merges, it does not replace.
    edited = copy.deepcopy(obj)
    edited["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    FM.update(obj, edited, "editor", api_version="apps/v1", now=T1)
    obj = FM.apply(edited, deployment(image="nginx:1.26"), "kubectl", force=False, now=T2)
    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:1.26", "imagePullPolicy": "Always"}]


def test_a_dropped_container_goes_whole_even_if_another_manager_set_a_field_in_it() -> None:
    two = deployment()
    two["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    obj = FM.apply(None, two, "kubectl", force=False, now=T0)
    edited = copy.deepcopy(obj)
    edited["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"] = "Always"
    FM.update(obj, edited, "editor", api_version="apps/v1", now=T1)
    obj = FM.apply(edited, deployment(), "kubectl", force=False, now=T2)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["web"]


def test_nulls_in_a_configuration_are_not_stored() -> None:
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": None}},
           "data": {"k": "v", "gone": None}}
    obj = FM.apply(None, cfg, "m", force=False, now=T0)
    assert obj["data"] == {"k": "v"} and not obj["metadata"].get("labels")


def test_apply_to_status_owns_status_only() -> None:
    obj = FM.apply(None, deployment(), "kubectl", force=False, now=T0)
    cfg = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 9}, "status": {"replicas": 2}}
    obj = FM.apply(obj, cfg, "ctl", force=False, subresource="status", now=T1)
    assert entries(obj)[("ctl", "Apply", "status")] == [".status.replicas"]


@pytest.mark.parametrize(("config", "message"), [
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "managedFields": []}},
     "metadata.managedFields must be nil"),
    ({"apiVersion": "apps/v2", "kind": "Deployment", "metadata": {"name": "w"}},
     "Incorrect version specified in apply patch. Specified patch version: apps/v2, expected: apps/v1"),
    ({"kind": "Deployment", "metadata": {"name": "w"}},
     "Incorrect version specified in apply patch. Specified patch version: , expected: apps/v1"),
])
def test_malformed_configurations_are_bad_requests(config: dict[str, Any], message: str) -> None:
    with pytest.raises(StatusError) as info:
        FM.apply(None, config, "m", force=False, api_version="apps/v1")
    assert (info.value.code, info.value.message) == (400, message)


def test_first_apply_to_an_untracked_object_conflicts_with_before_first_apply() -> None:
    live = deployment()
    err = conflict(lambda: FM.apply(live, deployment(replicas=4), "m", force=False, now=T1))
    assert 'conflict with "before-first-apply" using apps/v1: .spec.replicas' in err.message


def csa_object(data: dict[str, str]) -> dict[str, Any]:
    """A ConfigMap as `kubectl apply` (client-side) leaves it."""
    cfg: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}
    obj = copy.deepcopy(cfg)
    obj["metadata"]["annotations"] = {fmod.LAST_APPLIED: json.dumps(cfg)}
    return FM.update(None, obj, "kubectl-client-side-apply", api_version="v1", now=T0)


def test_kubectl_server_side_takes_over_client_side_apply_fields_still_as_last_applied() -> None:
    live = csa_object({"a": "1", "b": "2"})
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "3"}}
    obj = FM.apply(live, cfg, "kubectl", force=False, now=T1)
    assert obj["data"] == {"a": "1", "b": "3"}
    assert ".data.b" not in entries(obj)[("kubectl-client-side-apply", "Update", "")]
    # The annotation follows, so that a later client-side apply diffs against this apply.
    assert json.loads(obj["metadata"]["annotations"][fmod.LAST_APPLIED]) == cfg
    # Another manager gets no such pass.
    conflict(lambda: FM.apply(live, cfg, "other", force=False, now=T1))


def test_kubectl_server_side_conflicts_when_someone_changed_a_client_side_field() -> None:
    live = csa_object({"a": "1"})
    edited = copy.deepcopy(live)
    edited["data"]["a"] = "edited"
    FM.update(live, edited, "kubectl-edit", api_version="v1", now=T1)
    cfg = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}}
    err = conflict(lambda: FM.apply(edited, cfg, "kubectl", force=False, now=T2))
    assert err.message == 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.a'


def test_update_never_raises_on_odd_objects() -> None:
    odd = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"image": "no-name"}, "not-an-object"]}}}}
    out = FM.update(None, odd, "m", api_version="apps/v1", now=T0)
    assert out["metadata"]["managedFields"][0]["manager"] == "m"


# ------------------------------------------------------------------ create fast path

def _rich_objects() -> list[dict[str, Any]]:
    import pathlib

    import yaml
    root = pathlib.Path(__file__).resolve().parents[2]
    docs = [d for f in sorted((root / "manifests").rglob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    pod_spec = {
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
        "containers": [
            {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"},
                                                       {"containerPort": 53, "protocol": "TCP", "name": "dns"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],
             "resources": {"limits": {"cpu": "1"}, "requests": {}},
             "livenessProbe": {"httpGet": {"path": "/", "port": 80}}, "securityContext": {},
             "volumeMounts": [{"name": "v", "mountPath": "/v"}]},
            {"name": "side", "image": "busybox", "args": ["a", "b"], "stdin": False, "tty": None}],
        "volumes": [{"name": "v", "emptyDir": {}}, {"name": "c", "configMap": {"name": "c", "items": []}}],
        "tolerations": [{"key": "a", "operator": "Exists"}], "nodeSelector": {"a": "b"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}]}}},
        "securityContext": {}, "dnsConfig": None, "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a"]}],
    }
    objs = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "uid": "u",
                                                         "creationTimestamp": "2024-01-01T00:00:00Z",
                                                         "labels": {"a": "b"}, "annotations": {},
                                                         "finalizers": ["x/y", "x/z"],
                                                         "ownerReferences": [{"apiVersion": "v1", "kind": "K",
                                                                              "name": "o", "uid": "ou"}]},
         "spec": pod_spec, "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "True"}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "strategy": {"rollingUpdate": {}},
                  "template": {"metadata": {"creationTimestamp": None, "labels": {"a": "b"}}, "spec": pod_spec}}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
         "spec": {"template": {"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": {}},
                  "volumeClaimTemplates": [{"metadata": {"name": "x"}, "spec": {"accessModes": ["RWO"]}}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
         "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "protocol": "UDP"}], "selector": {}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": None}, "data": {"k": "v"},
         "binaryData": {}},
        {"apiVersion": "example.mizzen.dev/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "b"}},
         "spec": {"size": 3, "list": [1, 2], "nested": {"x": {}}}, "status": {"ok": True}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": {"taints": [
            {"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}]},
         "status": {"capacity": {"cpu": "2"}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "weird"},
         "spec": {"containers": "not-a-list", "volumes": [{"noname": 1}, {"noname": 2}], "nodeSelector": ["x"]}},
    ]
    return docs + objs


@pytest.mark.parametrize("obj", _rich_objects(), ids=lambda o: f"{o.get('kind')}-{o['metadata'].get('name')}")
def test_create_fast_path_matches_the_comparison_with_the_zero_object(obj: dict[str, Any]) -> None:
    t = FM._root(obj)
    body = fmod._body(obj)
    reset_status = t.kind == "struct" and fmod.schema.field_type(t.model, "status") is not None
    keep = FM._scope(t, "", None)
    expected = encode_fields_v1(fmod.compare(fmod._zero(body, t), body, t).restrict(keep).changed)
    assert fmod.created_fields_v1(body, t, reset_status) == expected
    assert json.dumps(fmod.created_fields_v1(body, t, reset_status)) == json.dumps(expected)  # same key order
