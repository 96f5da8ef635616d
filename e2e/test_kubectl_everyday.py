"""Every everyday kubectl command, run with the real kubectl against a mizzen cluster.

Each case gives what kubectl prints against Kubernetes v1.32 — stdout, stderr, exit code —
written from Kubernetes' documentation and behaviour, not from what mizzen happens to print.
Expected texts are templates: runs of spaces compare equal (kubectl pads columns to the
widest cell, and an AGE of "9s" or "10s" changes the padding), and a few placeholders stand
for what differs from run to run:

    <age> 5s, 3m2s      <hash> a pod-template-hash or name suffix    <n> a number
    <ip> 10.244.0.3     <date> Mon, 30 Nov 2026 06:02:56 +0000       <any> anything on one line

Where mizzen differs from Kubernetes in a file this suite's author does not own, the case is
marked `xfail(strict=True)` with the reason: the suite then fails as soon as it is fixed, so
the mark is removed with the fix.

One cluster (API server, controllers, scheduler, two simulated nodes) serves the module;
every test works in its own namespace."""

from __future__ import annotations

import json
import re
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mizzen.testing import KUBECTL, Cluster, Result

pytestmark = pytest.mark.e2e

PLACEHOLDERS = {
    "<age>": r"(?:\d+[smhd])+|<invalid>",
    "<hash>": r"[a-z0-9]{4,10}",
    "<n>": r"\d+",
    "<ip>": r"\d+\.\d+\.\d+\.\d+",
    "<date>": r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
    "<any>": r"[^\n]*",
}
_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


def _squeeze(text: str) -> str:
    """Runs of spaces (not newlines, not tabs) compare equal; trailing spaces are dropped."""
    return "\n".join(re.sub(r" +", " ", line).rstrip() for line in text.split("\n"))


def pattern(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    pos = 0
    squeezed = _squeeze(template)
    for m in _PLACEHOLDER_RE.finditer(squeezed):
        parts.append(re.escape(squeezed[pos:m.start()]))
        parts.append(f"(?:{PLACEHOLDERS[m.group()]})")
        pos = m.end()
    parts.append(re.escape(squeezed[pos:]))
    return re.compile("".join(parts))


def matches(template: str, actual: str) -> bool:
    return pattern(template).fullmatch(_squeeze(actual)) is not None


@dataclass
class Expect:
    out: str | None = ""  # None: not checked
    err: str | None = ""
    code: int = 0


def check(r: Result, want: Expect, what: str = "") -> None:
    problems = []
    if r.code != want.code:
        problems.append(f"exit code {r.code}, want {want.code}")
    if want.out is not None and not matches(want.out, r.out):
        problems.append(f"stdout differs; want:\n{want.out}")
    if want.err is not None and not matches(want.err, r.err):
        problems.append(f"stderr differs; want:\n{want.err}")
    assert not problems, f"kubectl {what}: " + "; ".join(problems) + f"\ngot {r}"


@dataclass
class K:
    """kubectl bound to one namespace of the module's cluster."""

    cluster: Cluster
    ns: str

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 60.0) -> Result:
        # The namespace goes first: after a `--` it would become part of a container command.
        return self.cluster.kubectl("-n", self.ns, *args, input=input, check=False, env=env, timeout=timeout)

    def ok(self, *args: str, input: str | None = None) -> str:
        r = self(*args, input=input)
        assert r.code == 0, f"kubectl {' '.join(args)}: {r}"
        return r.out

    def expect(self, args: list[str], want: Expect, input: str | None = None,
               env: dict[str, str] | None = None) -> Result:
        r = self(*args, input=input, env=env)
        check(r, want, " ".join(args))
        return r

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.ok("get", *args, "-o", "json"))

    def run_table(self, table: list[tuple[list[str], Expect]]) -> None:
        for args, want in table:
            self.expect(args, want)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster.start(tmp_path_factory.mktemp("everyday"), "--nodes", "2", "--runtime", "simulated") as c:
        c.wait_for(lambda: c.kubectl("get", "--raw", "/readyz", check=False).out == "ok", what="readyz ok")
        yield c


@pytest.fixture()
def k(cluster: Cluster) -> K:
    name = f"ev-{uuid.uuid4().hex[:6]}"
    r = cluster.kubectl("create", "namespace", name)
    assert r.out == f"namespace/{name} created\n"
    # As Kubernetes' e2e framework does: wait for what the controllers put in every new
    # namespace (here the kube-root-ca.crt ConfigMap), so that listings are deterministic.
    cluster.wait_for(lambda: cluster.kubectl("get", "cm", "kube-root-ca.crt", "-n", name, check=False).code == 0,
                     10, what="kube-root-ca.crt")
    return K(cluster, name)


def deployment_yaml(name: str = "web", replicas: int = 2, image: str = "nginx:1.27", extra: str = "") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
{extra}"""


def ready_deployment(k: K, name: str = "web", replicas: int = 2) -> None:
    k.ok("apply", "-f", "-", input=deployment_yaml(name, replicas))
    k.ok("rollout", "status", f"deployment/{name}", "--timeout=30s")


def wait_until(check_fn, timeout: float = 20.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check_fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


# ---------------------------------------------------------------- cluster-level commands

API_VERSIONS = """admissionregistration.k8s.io/v1
apiextensions.k8s.io/v1
apiregistration.k8s.io/v1
apps/v1
authentication.k8s.io/v1
authorization.k8s.io/v1
autoscaling/v1
autoscaling/v2
batch/v1
certificates.k8s.io/v1
coordination.k8s.io/v1
discovery.k8s.io/v1
events.k8s.io/v1
flowcontrol.apiserver.k8s.io/v1
networking.k8s.io/v1
node.k8s.io/v1
policy/v1
rbac.authorization.k8s.io/v1
scheduling.k8s.io/v1
storage.k8s.io/v1
v1
"""

# `kubectl api-resources --namespaced=false` against a kubeadm/kind v1.32 cluster.
CLUSTER_SCOPED = """NAME SHORTNAMES APIVERSION NAMESPACED KIND
componentstatuses cs v1 false ComponentStatus
namespaces ns v1 false Namespace
nodes no v1 false Node
persistentvolumes pv v1 false PersistentVolume
mutatingwebhookconfigurations admissionregistration.k8s.io/v1 false MutatingWebhookConfiguration
validatingadmissionpolicies admissionregistration.k8s.io/v1 false ValidatingAdmissionPolicy
validatingadmissionpolicybindings admissionregistration.k8s.io/v1 false ValidatingAdmissionPolicyBinding
validatingwebhookconfigurations admissionregistration.k8s.io/v1 false ValidatingWebhookConfiguration
customresourcedefinitions crd,crds apiextensions.k8s.io/v1 false CustomResourceDefinition
apiservices apiregistration.k8s.io/v1 false APIService
selfsubjectreviews authentication.k8s.io/v1 false SelfSubjectReview
tokenreviews authentication.k8s.io/v1 false TokenReview
selfsubjectaccessreviews authorization.k8s.io/v1 false SelfSubjectAccessReview
selfsubjectrulesreviews authorization.k8s.io/v1 false SelfSubjectRulesReview
subjectaccessreviews authorization.k8s.io/v1 false SubjectAccessReview
certificatesigningrequests csr certificates.k8s.io/v1 false CertificateSigningRequest
flowschemas flowcontrol.apiserver.k8s.io/v1 false FlowSchema
prioritylevelconfigurations flowcontrol.apiserver.k8s.io/v1 false PriorityLevelConfiguration
ingressclasses networking.k8s.io/v1 false IngressClass
runtimeclasses node.k8s.io/v1 false RuntimeClass
clusterrolebindings rbac.authorization.k8s.io/v1 false ClusterRoleBinding
clusterroles rbac.authorization.k8s.io/v1 false ClusterRole
priorityclasses pc scheduling.k8s.io/v1 false PriorityClass
csidrivers storage.k8s.io/v1 false CSIDriver
csinodes storage.k8s.io/v1 false CSINode
storageclasses sc storage.k8s.io/v1 false StorageClass
volumeattachments storage.k8s.io/v1 false VolumeAttachment
"""


def test_cluster_level_commands(cluster: Cluster, k: K) -> None:
    k.run_table([
        (["version"], Expect("Client Version: v1.32.<any>\nKustomize Version: v5.5.0\nServer Version: v1.32.<any>\n")),
        (["cluster-info"], Expect(f"Kubernetes control plane is running at {cluster.server}\n\nTo further debug and "
                                  "diagnose cluster problems, use 'kubectl cluster-info dump'.\n")),
        (["api-versions"], Expect(API_VERSIONS)),
        (["api-resources", "--namespaced=false"], Expect(CLUSTER_SCOPED)),
        (["get", "--raw", "/healthz"], Expect("ok")),
        (["get", "--raw", "/livez"], Expect("ok")),
        (["get", "--raw", "/readyz"], Expect("ok")),
        (["auth", "can-i", "create", "pods"], Expect("yes\n")),
        (["auth", "can-i", "*", "*", "--all-namespaces"], Expect("yes\n")),
        # metrics.k8s.io is not served (no metrics-server): what kubectl says on such a cluster.
        (["top", "pods"], Expect("", "error: Metrics API not available\n", 1)),
        (["top", "nodes"], Expect("", "error: Metrics API not available\n", 1)),
    ])
    version = json.loads(k.ok("version", "-o", "json"))["serverVersion"]
    assert (version["major"], version["minor"]) == ("1", "32")
    assert set(version) >= {"gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler",
                            "platform"}


def test_kubeconfig_is_config_view_friendly(cluster: Cluster, k: K, tmp_path: Path) -> None:
    """`config view` redacts, `--raw --minify --flatten` makes a self-contained kubeconfig
    that works from anywhere (the way people hand a cluster to a colleague or to CI)."""
    shown = yaml.safe_load(k.ok("config", "view"))
    assert shown["clusters"][0]["cluster"]["certificate-authority-data"] == "DATA+OMITTED"
    user = shown["users"][0]["user"]
    assert set(user.values()) <= {"REDACTED", "DATA+OMITTED"}, user
    raw = k.ok("config", "view", "--raw", "--minify", "--flatten")
    cfg = yaml.safe_load(raw)
    assert cfg["clusters"][0]["cluster"]["server"] == cluster.server
    assert cfg["current-context"]
    copy = tmp_path / "copied-kubeconfig"
    copy.write_text(raw)
    r = k("get", "namespace", k.ns, "-o", "name", env={"KUBECONFIG": str(copy)})
    check(r, Expect(f"namespace/{k.ns}\n"), "get ns with the flattened kubeconfig")


def test_explain(k: K) -> None:
    r = k.expect(["explain", "pods.spec.containers"], Expect(None))
    assert r.out.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>\n\n\nDESCRIPTION:\n"
                            "    List of containers belonging to the pod.")
    fields = re.findall(r"^  (\w+)\t", r.out, re.M)
    assert "name\t<string> -required-" in r.out
    assert {"image", "imagePullPolicy", "resources", "volumeMounts", "resizePolicy", "restartPolicy"} <= set(fields)
    k.expect(["explain", "deployment.spec.replicas"], Expect(
        "GROUP: apps\nKIND: Deployment\nVERSION: v1\n\nFIELD: replicas <integer>\n\n\nDESCRIPTION:\n"
        "    Number of desired pods. This is a pointer to distinguish between explicit\n"
        "    zero and not specified. Defaults to 1.\n    \n\n"))
    k.expect(["explain", "pods.spec.nope"], Expect("KIND: Pod\nVERSION: v1\n\n", 'error: field "nope" does not exist\n', 1))


def test_explain_lists_only_v1_32_fields(k: K) -> None:
    out = k.ok("explain", "pods.spec.containers")
    fields = re.findall(r"^  (\w+)\t", out, re.M)
    assert fields == ["args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle", "livenessProbe",
                      "name", "ports", "readinessProbe", "resizePolicy", "resources", "restartPolicy",
                      "securityContext", "startupProbe", "stdin", "stdinOnce", "terminationMessagePath",
                      "terminationMessagePolicy", "tty", "volumeDevices", "volumeMounts", "workingDir"]


# ---------------------------------------------------------------- get

def test_get_variants(k: K) -> None:
    # Names and data sort differently, so --sort-by is visible.
    for name, value, tier in (("cm-a", "3", "front"), ("cm-b", "1", "back"), ("cm-c", "2", "front")):
        k.ok("create", "configmap", name, f"--from-literal=k={value}")
        k.ok("label", "configmap", name, f"tier={tier}")
    sel = ["-l", "tier"]
    k.run_table([
        (["get", "cm", *sel], Expect("NAME DATA AGE\ncm-a 1 <age>\ncm-b 1 <age>\ncm-c 1 <age>\n")),
        (["get", "cm", *sel, "--sort-by=.data.k"], Expect("NAME DATA AGE\ncm-b 1 <age>\ncm-c 1 <age>\n"
                                                          "cm-a 1 <age>\n")),
        (["get", "cm", *sel, "--sort-by=.metadata.name", "-o", "name"],
         Expect("configmap/cm-a\nconfigmap/cm-b\nconfigmap/cm-c\n")),
        (["get", "cm", *sel, "--show-labels"], Expect("NAME DATA AGE LABELS\ncm-a 1 <age> tier=front\n"
                                                      "cm-b 1 <age> tier=back\ncm-c 1 <age> tier=front\n")),
        (["get", "cm", *sel, "-L", "tier"], Expect("NAME DATA AGE TIER\ncm-a 1 <age> front\ncm-b 1 <age> back\n"
                                                   "cm-c 1 <age> front\n")),
        (["get", "cm", *sel, "-L", "nope"], Expect("NAME DATA AGE NOPE\ncm-a 1 <age>\ncm-b 1 <age>\n"
                                                   "cm-c 1 <age>\n")),
        (["get", "cm", *sel, "--chunk-size=1"], Expect("NAME DATA AGE\ncm-a 1 <age>\ncm-b 1 <age>\ncm-c 1 <age>\n")),
        (["get", "cm", *sel, "--chunk-size=1", "-o", "name"],
         Expect("configmap/cm-a\nconfigmap/cm-b\nconfigmap/cm-c\n")),
        (["get", "cm", "-l", "tier=front", "-o", "custom-columns=NAME:.metadata.name,K:.data.k,TIER:.metadata.labels.tier"],
         Expect("NAME K TIER\ncm-a 3 front\ncm-c 2 front\n")),
        (["get", "cm", "-l", "tier=back", "-o", "custom-columns=NAME:.metadata.name,MISSING:.data.none"],
         Expect("NAME MISSING\ncm-b <none>\n")),
        (["get", "cm", *sel, "-o", "go-template={{range .items}}{{.metadata.name}}={{.data.k}} {{end}}"],
         Expect("cm-a=3 cm-b=1 cm-c=2 ")),
        (["get", "cm", "cm-a", "-o", "go-template={{.metadata.name}} {{index .metadata.labels \"tier\"}}"],
         Expect("cm-a front")),
        (["get", "cm", "cm-a", "-o", "jsonpath={.data.k}"], Expect("3")),
        (["get", "cm", "-l", "tier=none"], Expect("", f"No resources found in {k.ns} namespace.\n")),
        (["get", "cm", "nope"], Expect("", 'Error from server (NotFound): configmaps "nope" not found\n', 1)),
        (["get", "cm", "cm-a", "cm-b", "-o", "name"], Expect("configmap/cm-a\nconfigmap/cm-b\n")),
        (["get", "configmap/cm-a", "secret/nope", "-o", "name"],
         Expect("configmap/cm-a\n", 'Error from server (NotFound): secrets "nope" not found\n', 1)),
    ])


def test_get_all_category(k: K) -> None:
    ready_deployment(k, "web", 2)
    k.ok("expose", "deployment", "web", "--port=80", "--target-port=8080")
    k.ok("create", "configmap", "not-in-all")  # configmaps are not in the `all` category
    k.expect(["get", "all"], Expect(
        "NAME READY STATUS RESTARTS AGE\n"
        "pod/web-<hash>-<hash> 1/1 Running 0 <age>\n"
        "pod/web-<hash>-<hash> 1/1 Running 0 <age>\n"
        "\n"
        "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE\n"
        "service/web ClusterIP <ip> <none> 80/TCP <age>\n"
        "\n"
        "NAME READY UP-TO-DATE AVAILABLE AGE\n"
        "deployment.apps/web 2/2 2 2 <age>\n"
        "\n"
        "NAME DESIRED CURRENT READY AGE\n"
        "replicaset.apps/web-<hash> 2 2 2 <age>\n"))
    k.expect(["get", "all", "-l", "app=nothing"], Expect("", f"No resources found in {k.ns} namespace.\n"))


def test_get_wide(k: K) -> None:
    ready_deployment(k, "web", 2)
    k.ok("expose", "deployment", "web", "--port=80", "--target-port=8080")
    k.run_table([
        (["get", "pods", "-o", "wide"], Expect(
            "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES\n"
            "web-<hash>-<hash> 1/1 Running 0 <age> <ip> node-<n> <none> <none>\n"
            "web-<hash>-<hash> 1/1 Running 0 <age> <ip> node-<n> <none> <none>\n")),
        (["get", "deployments", "-o", "wide"], Expect(
            "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR\n"
            "web 2/2 2 2 <age> app nginx:1.27 app=web\n")),
        (["get", "replicasets", "-o", "wide"], Expect(
            "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR\n"
            "web-<hash> 2 2 2 <age> app nginx:1.27 app=web,pod-template-hash=<hash>\n")),
        (["get", "services", "-o", "wide"], Expect(
            "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR\nweb ClusterIP <ip> <none> 80/TCP <age> app=web\n")),
        (["get", "nodes"], Expect("NAME STATUS ROLES AGE VERSION\nnode-1 Ready <none> <age> v1.32.<n>\n"
                                  "node-2 Ready <none> <age> v1.32.<n>\n")),
        (["get", "pods", "--field-selector", "status.phase=Running", "-o", "name"],
         Expect("pod/web-<hash>-<hash>\npod/web-<hash>-<hash>\n")),
        (["get", "pods", "--field-selector", "status.phase=Pending"], Expect("", f"No resources found in {k.ns} "
                                                                                "namespace.\n")),
    ])
    nodes = k.ok("get", "nodes", "-o", "wide").splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                                "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    pod = k.json("pods", "-l", "app=web")["items"][0]["metadata"]["name"]
    k.expect(["delete", "pod", pod], Expect(f'pod "{pod}" deleted\n'))
    k.expect(["get", "pod", pod], Expect("", f'Error from server (NotFound): pods "{pod}" not found\n', 1))


def test_autoscale_defaults(k: K) -> None:
    ready_deployment(k, "web", 1)
    # Kubernetes prints no warning; mizzen says what it would not enforce (issue: a migration
    # rehearsal must show it).
    k.expect(["autoscale", "deployment", "web", "--max=3"],
             Expect("horizontalpodautoscaler.autoscaling/web autoscaled\n",
                    "Warning: mizzen stores HorizontalPodAutoscaler objects but does not act on them yet: no "
                    "autoscaler changes the target's replicas\n"))
    spec = k.json("hpa", "web")["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    # The same object read as autoscaling/v1, the version `kubectl autoscale` wrote.
    v1 = k.json("horizontalpodautoscalers.v1.autoscaling", "web")
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 80 and "metrics" not in v1["spec"]


# ---------------------------------------------------------------- diff, edit, replace

def test_diff(k: K, tmp_path: Path) -> None:
    k.ok("apply", "-f", "-", input=deployment_yaml("web", 2))
    same = tmp_path / "same.yaml"
    same.write_text(deployment_yaml("web", 2))
    k.expect(["diff", "-f", str(same)], Expect("", ""))
    changed = tmp_path / "changed.yaml"
    changed.write_text(deployment_yaml("web", 3, image="nginx:1.28"))
    r = k.expect(["diff", "-f", str(changed)], Expect(None, "", 1))
    lines = r.out.splitlines()
    assert lines[0].startswith("diff -u -N ") and lines[0].endswith(f"/apps.v1.Deployment.{k.ns}.web")
    assert lines[1].startswith("--- ") and lines[2].startswith("+++ ")
    changes = [x for x in lines[3:] if x[:1] in "+-"]
    assert "-  replicas: 2" in changes and "+  replicas: 3" in changes
    assert "-      - image: nginx:1.27" in changes and "+      - image: nginx:1.28" in changes
    assert sum(1 for x in changes if "generation" in x) == 2  # a spec change bumps metadata.generation
    # Nothing was written by the diff (it is a server-side dry run).
    assert k.json("deployment", "web")["spec"]["replicas"] == 2
    new = tmp_path / "new.yaml"
    new.write_text(deployment_yaml("other", 1))
    r = k.expect(["diff", "-f", str(new)], Expect(None, "", 1))
    assert "+  name: other" in r.out.splitlines()
    # The server-side variant, on an object managed by server-side apply.
    ssa = tmp_path / "ssa.yaml"
    ssa.write_text(deployment_yaml("ssa", 1))
    k.expect(["apply", "--server-side", "-f", str(ssa)], Expect("deployment.apps/ssa serverside-applied\n"))
    k.expect(["diff", "--server-side", "-f", str(ssa)], Expect("", ""))
    ssa.write_text(deployment_yaml("ssa", 4))
    r = k.expect(["diff", "--server-side", "-f", str(ssa)], Expect(None, "", 1))
    assert "-  replicas: 1" in r.out.splitlines() and "+  replicas: 4" in r.out.splitlines()


def test_new_deployment_stays_at_generation_1(k: K) -> None:
    ready_deployment(k, "web", 1)
    d = k.json("deployment", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert d["metadata"]["generation"] == 1 and d["status"]["observedGeneration"] == 1


def editor(tmp_path: Path, script: str) -> dict[str, str]:
    path = tmp_path / f"editor-{uuid.uuid4().hex[:6]}.sh"
    path.write_text("#!/bin/sh\nset -e\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {"EDITOR": str(path), "KUBE_EDITOR": str(path), "TMPDIR": str(tmp_path)}


def test_edit(k: K, tmp_path: Path) -> None:
    k.ok("apply", "-f", "-", input=deployment_yaml("web", 2))
    k.expect(["edit", "deployment/web"], Expect("deployment.apps/web edited\n"),
             env=editor(tmp_path, 'sed -i "s/replicas: 2/replicas: 3/" "$1"\n'))
    assert k.json("deployment", "web")["spec"]["replicas"] == 3
    k.expect(["edit", "deployment/web"], Expect("", "Edit cancelled, no changes made.\n"),
             env=editor(tmp_path, "true\n"))
    # The object changes between kubectl's GET and the save, and the saved edit names an
    # older resourceVersion: the server refuses with a Conflict, kubectl keeps the file.
    kubectl = f'KUBECONFIG="{k.cluster.kubeconfig}" HOME="{k.cluster.home}" {KUBECTL} -n {k.ns}'
    r = k.expect(["edit", "deployment/web"], Expect("", None, 1), env=editor(tmp_path, (
        f"{kubectl} annotate deployment web touched=yes >/dev/null\n"
        'sed -i -e "s/replicas: 3/replicas: 4/" -e "s/resourceVersion: .*/resourceVersion: \\"1\\"/" "$1"\n')))
    check(r, Expect("", 'error: deployments.apps "web" could not be patched: Operation cannot be fulfilled on '
                    'deployments.apps "web": the object has been modified; please apply your changes to the latest '
                    f"version and try again\nYou can run `kubectl replace -f {tmp_path}/kubectl-edit-<n>.yaml` to try "
                    "this update again.\n", 1), "edit with a stale resourceVersion")
    for f in tmp_path.glob("kubectl-edit-*.yaml"):
        f.unlink()
    d = k.json("deployment", "web")
    assert d["spec"]["replicas"] == 3 and d["metadata"]["annotations"]["touched"] == "yes"
    # An invalid edit is refused; kubectl reopens the file with the API's causes on top, and
    # (the scripted editor changing nothing more) gives up, keeping a copy.
    r = k("edit", "deployment/web", env=editor(tmp_path, 'sed -i "s/replicas: 3/replicas: -1/" "$1"\n'))
    check(r, Expect("", f'error: deployments.apps "web" is invalid\nA copy of your changes has been stored to '
                    f'"{tmp_path}/kubectl-edit-<n>.yaml"\nerror: Edit cancelled, no valid changes were saved.\n', 1),
          "an invalid edit")
    kept = Path(re.search(r'stored to "([^"]+)"', r.err).group(1)).read_text()  # type: ignore[union-attr]
    assert '# deployments.apps "web" was not valid:\n# * spec.replicas: Invalid value: -1: must be greater than or ' \
        "equal to 0\n#\n" in kept


def test_replace(k: K) -> None:
    k.ok("create", "configmap", "rc", "--from-literal=a=1")
    live = yaml.safe_load(k.ok("get", "configmap", "rc", "-o", "yaml"))
    uid = live["metadata"]["uid"]
    live["data"]["a"] = "2"
    doc = yaml.safe_dump(live)
    k.expect(["replace", "-f", "-"], Expect("configmap/rc replaced\n"), input=doc)
    # The same file again carries a resourceVersion that is now stale.
    k.expect(["replace", "-f", "-"], Expect("", 'Error from server (Conflict): error when replacing "STDIN": Operation '
                                             'cannot be fulfilled on configmaps "rc": the object has been modified; '
                                             "please apply your changes to the latest version and try again\n", 1),
             input=doc)
    # Without a resourceVersion the replace is unconditional.
    del live["metadata"]["resourceVersion"]
    live["data"]["a"] = "3"
    k.expect(["replace", "-f", "-"], Expect("configmap/rc replaced\n"), input=yaml.safe_dump(live))
    live["data"]["a"] = "4"
    k.expect(["replace", "--force", "-f", "-"], Expect('configmap "rc" deleted\nconfigmap/rc replaced\n'),
             input=yaml.safe_dump(live))
    after = k.json("configmap", "rc")
    assert after["data"] == {"a": "4"} and after["metadata"]["uid"] != uid
    k.expect(["replace", "-f", "-"], Expect("", 'Error from server (NotFound): error when replacing "STDIN": '
                                             'configmaps "nope" not found\n', 1),
             input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nope\n")


# ---------------------------------------------------------------- wait

def test_wait(k: K) -> None:
    k.ok("apply", "-f", "-", input=deployment_yaml("web", 2))
    k.run_table([
        (["wait", "--for=condition=Available", "deployment/web", "--timeout=30s"],
         Expect("deployment.apps/web condition met\n")),
        (["wait", "--for=jsonpath={.status.readyReplicas}=2", "deployment/web", "--timeout=30s"],
         Expect("deployment.apps/web condition met\n")),
        (["wait", "--for=condition=Available=true", "deployment", "-l", "app=web", "--timeout=30s"],
         Expect("deployment.apps/web condition met\n")),
        (["wait", "--for=jsonpath={.status.readyReplicas}=7", "deployment/web", "--timeout=1s"],
         Expect("", "error: timed out waiting for the condition on deployments/web\n", 1)),
        (["wait", "--for=condition=Available", "deployment/nope", "--timeout=1s"],
         Expect("", 'Error from server (NotFound): deployments.apps "nope" not found\n', 1)),
        (["wait", "--for=delete", "configmap/never-existed", "--timeout=1s"], Expect("", "")),
    ])
    # --for=create (new in v1.31) waits for an object that does not exist yet.
    k.ok("create", "configmap", "gone-soon")
    waiter = k.cluster.kubectl_bg("wait", "--for=create", "configmap/later", "-n", k.ns, "--timeout=30s")
    deleter = k.cluster.kubectl_bg("wait", "--for=delete", "configmap/gone-soon", "-n", k.ns, "--timeout=30s")
    time.sleep(0.5)
    k.ok("create", "configmap", "later")
    k.ok("delete", "configmap", "gone-soon", "--wait=false")
    out, err = waiter.communicate(timeout=40)
    assert (waiter.returncode, out, err) == (0, "configmap/later condition met\n", "")
    out, err = deleter.communicate(timeout=40)
    assert (deleter.returncode, out, err) == (0, "configmap/gone-soon condition met\n", "")


# ---------------------------------------------------------------- events, describe

def test_events(k: K) -> None:
    ready_deployment(k, "web", 2)
    k.expect(["events", "--for", "deployment/web"], Expect(
        "LAST SEEN TYPE REASON OBJECT MESSAGE\n"
        "<age> Normal ScalingReplicaSet Deployment/web Scaled up replica set web-<hash> from 0 to 2\n"))
    k.expect(["get", "events", "--field-selector", "involvedObject.name=web"], Expect(
        "LAST SEEN TYPE REASON OBJECT MESSAGE\n"
        "<age> Normal ScalingReplicaSet deployment/web Scaled up replica set web-<hash> from 0 to 2\n"))
    k.expect(["get", "events", "--field-selector", "involvedObject.kind=ReplicaSet,reason=SuccessfulCreate",
              "-o", "custom-columns=KIND:.involvedObject.kind,REASON:.reason,FROM:.source.component"],
             Expect("KIND REASON FROM\nReplicaSet SuccessfulCreate replicaset-controller\n"
                    "ReplicaSet SuccessfulCreate replicaset-controller\n"))
    r = k.expect(["events"], Expect(None))
    rows = r.out.splitlines()
    assert rows[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    reasons = {(row.split()[2], row.split()[3].split("/")[0]) for row in rows[1:]}
    assert {("ScalingReplicaSet", "Deployment"), ("SuccessfulCreate", "ReplicaSet"), ("Scheduled", "Pod")} <= reasons
    k.expect(["events", "--types=Warning"], Expect("", f"No events found in {k.ns} namespace.\n"))
    k.expect(["get", "events", "--field-selector", "involvedObject.name=nothing"],
             Expect("", f"No resources found in {k.ns} namespace.\n"))


DESCRIBE_DEPLOYMENT = """Name: web
Namespace: {ns}
CreationTimestamp: <date>
Labels: app=web
Annotations: deployment.kubernetes.io/revision: 1
Selector: app=web
Replicas: 2 desired | 2 updated | 2 total | 2 available | 0 unavailable
StrategyType: RollingUpdate
MinReadySeconds: 0
RollingUpdateStrategy: 25% max unavailable, 25% max surge
Pod Template:
 Labels: app=web
 Containers:
 app:
 Image: nginx:1.27
 Port: <none>
 Host Port: <none>
 Environment: <none>
 Mounts: <none>
 Volumes: <none>
 Node-Selectors: <none>
 Tolerations: <none>
Conditions:
 Type Status Reason
 ---- ------ ------
 Available True MinimumReplicasAvailable
 Progressing True NewReplicaSetAvailable
OldReplicaSets: <none>
NewReplicaSet: web-<hash> (2/2 replicas created)
Events:
 Type Reason Age From Message
 ---- ------ ---- ---- -------
 Normal ScalingReplicaSet <age> deployment-controller Scaled up replica set web-<hash> from 0 to 2
"""

DESCRIBE_CONFIGMAP = """Name: settings
Namespace: {ns}
Labels: <none>
Annotations: <none>

Data
====
mode:
----
fast


BinaryData
====

Events: <none>
"""

DESCRIBE_SECRET = """Name: creds
Namespace: {ns}
Labels: <none>
Annotations: <none>

Type: Opaque

Data
====
password: 7 bytes
"""

DESCRIBE_NAMESPACE = """Name: {ns}
Labels: kubernetes.io/metadata.name={ns}
Annotations: <none>
Status: Active

No resource quota.

No LimitRange resource.
"""

DESCRIBE_SERVICE = """Name: web
Namespace: {ns}
Labels: app=web
Annotations: <none>
Selector: app=web
Type: ClusterIP
IP Family Policy: SingleStack
IP Families: IPv4
IP: <ip>
IPs: <ip>
Port: <unset> 80/TCP
TargetPort: 8080/TCP
Endpoints: <any>
Session Affinity: None
Internal Traffic Policy: Cluster
Events: <none>
"""


def sections(out: str) -> list[str]:
    """The top-level headings `kubectl describe` printed, in order."""
    return [m.group(1) for m in re.finditer(r"^([A-Z][\w ()-]*?):", out, re.M)]


def test_describe(k: K) -> None:
    ready_deployment(k, "web", 2)
    k.ok("expose", "deployment", "web", "--port=80", "--target-port=8080")
    k.ok("create", "configmap", "settings", "--from-literal=mode=fast")
    k.ok("create", "secret", "generic", "creds", "--from-literal=password=hunter2")
    k.run_table([
        (["describe", "deployment", "web"], Expect(DESCRIBE_DEPLOYMENT.format(ns=k.ns))),
        (["describe", "configmap", "settings"], Expect(DESCRIBE_CONFIGMAP.format(ns=k.ns))),
        (["describe", "secret", "creds"], Expect(DESCRIBE_SECRET.format(ns=k.ns))),
        (["describe", "namespace", k.ns], Expect(DESCRIBE_NAMESPACE.format(ns=k.ns))),
        (["describe", "service", "web"], Expect(DESCRIBE_SERVICE.format(ns=k.ns))),
        (["describe", "configmap", "nope"], Expect("", 'Error from server (NotFound): configmaps "nope" not found\n',
                                                   1)),
    ])
    # Describe by prefix: kubectl lists the type and describes every name that starts so.
    k.expect(["describe", "configmap", "sett"], Expect(DESCRIBE_CONFIGMAP.format(ns=k.ns) + "\n"))

    pods = k.json("pods", "-l", "app=web")["items"]
    pod = pods[0]["metadata"]["name"]
    out = k.ok("describe", "pod", pod)
    assert sections(out) == ["Name", "Namespace", "Priority", "Service Account", "Node", "Start Time", "Labels",
                             "Annotations", "Status", "IP", "IPs", "Controlled By", "Containers", "Conditions",
                             "Volumes", "QoS Class", "Node-Selectors", "Tolerations", "Events"]
    assert matches("Controlled By: ReplicaSet/web-<hash>", re.search(r"^Controlled By:.*$", out, re.M).group())
    assert re.search(r"^Status:\s+Running$", out, re.M)
    assert re.search(r"^\s+Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned "
                     rf"{k.ns}/{pod} to node-\d$", out, re.M)
    assert re.search(r"^QoS Class:\s+BestEffort$", out, re.M)

    rs = k.ok("describe", "replicaset", "-l", "app=web")
    assert sections(rs) == ["Name", "Namespace", "Selector", "Labels", "Annotations", "Controlled By", "Replicas",
                            "Pods Status", "Pod Template", "Events"]
    assert re.search(r"^Replicas:\s+2 current / 2 desired$", rs, re.M)
    assert re.search(r"^Pods Status:\s+2 Running / 0 Waiting / 0 Succeeded / 0 Failed$", rs, re.M)
    assert len(re.findall(r"Normal\s+SuccessfulCreate\s+\S+\s+replicaset-controller\s+Created pod: web-", rs)) == 2

    node = k.ok("describe", "node", "node-1")
    assert sections(node)[:8] == ["Name", "Roles", "Labels", "Annotations", "CreationTimestamp", "Taints",
                                  "Unschedulable", "Lease"]
    for heading in ("Conditions", "Addresses", "Capacity", "Allocatable", "System Info", "Non-terminated Pods",
                    "Allocated resources", "Events"):
        assert heading in sections(node), heading
    assert re.search(r"^\s+Ready\s+True\s.*KubeletReady\s+kubelet is posting ready status", node, re.M)

    k.ok("apply", "-f", "-", input="""apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: a, image: busybox}]
""")
    k.ok("rollout", "status", "daemonset/agent", "--timeout=30s")
    ds = k.ok("describe", "daemonset", "agent")
    assert sections(ds) == ["Name", "Selector", "Node-Selector", "Labels", "Annotations",
                            "Desired Number of Nodes Scheduled", "Current Number of Nodes Scheduled",
                            "Number of Nodes Scheduled with Up-to-date Pods",
                            "Number of Nodes Scheduled with Available Pods", "Number of Nodes Misscheduled",
                            "Pods Status", "Pod Template", "Events"]
    assert re.search(r"^Desired Number of Nodes Scheduled: 2$", ds, re.M)
    assert re.search(r"^Pods Status:\s+2 Running / 0 Waiting / 0 Succeeded / 0 Failed$", ds, re.M)
    assert len(re.findall(r"Normal\s+SuccessfulCreate\s+\S+\s+daemonset-controller\s+Created pod: agent-", ds)) == 2

    k.ok("create", "job", "once", "--image=busybox", "--", "true")
    job = k.ok("describe", "job", "once")
    assert sections(job)[:12] == ["Name", "Namespace", "Selector", "Labels", "Annotations", "Parallelism",
                                  "Completions", "Completion Mode", "Suspend", "Backoff Limit", "Start Time",
                                  "Pods Statuses"] or sections(job)[:11] == [
        "Name", "Namespace", "Selector", "Labels", "Annotations", "Parallelism", "Completions", "Completion Mode",
        "Suspend", "Backoff Limit", "Pods Statuses"]


def test_describe_service_lists_endpoints(k: K) -> None:
    ready_deployment(k, "web", 2)
    k.ok("expose", "deployment", "web", "--port=80", "--target-port=8080")
    ips = sorted(p["status"]["podIP"] for p in k.json("pods", "-l", "app=web")["items"])
    wait_until(lambda: k.ok("get", "endpoints", "web", "-o", "name"), 10, "endpoints")
    out = k.ok("describe", "service", "web")
    line = re.search(r"^Endpoints:\s+(\S+)$", out, re.M)
    assert line and sorted(line.group(1).split(",")) == [f"{ip}:8080" for ip in ips]


def test_job_completes(k: K) -> None:
    # Simulated nodes run no processes: the pod template tells the simulated kubelet that the
    # container exits 0 (kubelet/simulated.py).
    k.ok("apply", "-f", "-", input=(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\nspec:\n  template:\n    metadata:\n"
        "      annotations:\n        simulated.mizzen.io/fail: succeed\n    spec:\n      restartPolicy: Never\n"
        "      containers:\n      - name: once\n        image: busybox\n        command: [\"true\"]\n"))
    k.expect(["wait", "--for=condition=Complete", "job/once", "--timeout=20s"],
             Expect("job.batch/once condition met\n"))


def test_new_namespace_has_default_serviceaccount_and_root_ca(k: K) -> None:
    def both() -> str:
        r = k("get", "serviceaccounts,configmaps", "-o", "name")
        return r.out if r.out.split() == ["serviceaccount/default", "configmap/kube-root-ca.crt"] else ""
    wait_until(both, 3, "default serviceaccount and kube-root-ca.crt")


def test_pod_has_service_account_token_volume(k: K) -> None:
    k.ok("run", "p", "--image=busybox", "--restart=Never")
    pod = k.json("pod", "p")
    vols = [v["name"] for v in pod["spec"].get("volumes") or []]
    assert len(vols) == 1 and vols[0].startswith("kube-api-access-")
    mounts = pod["spec"]["containers"][0].get("volumeMounts") or []
    assert mounts == [{"name": vols[0], "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                       "readOnly": True}]


# ---------------------------------------------------------------- rollout

def test_rollout(k: K) -> None:
    ready_deployment(k, "web", 2)
    k.run_table([
        (["rollout", "status", "deployment/web"], Expect('deployment "web" successfully rolled out\n')),
        (["set", "image", "deployment/web", "app=nginx:1.28"], Expect("deployment.apps/web image updated\n")),
    ])
    r = k.expect(["rollout", "status", "deployment/web", "--timeout=30s"], Expect(None))
    assert r.out.endswith('deployment "web" successfully rolled out\n')
    for line in r.out.splitlines()[:-1]:
        assert (matches('Waiting for deployment "web" rollout to finish: <any>', line)
                or line == "Waiting for deployment spec update to be observed..."), line
    k.run_table([
        (["rollout", "history", "deployment/web"], Expect(
            "deployment.apps/web \nREVISION CHANGE-CAUSE\n1 <none>\n2 <none>\n\n")),
        (["rollout", "history", "deployment/web", "--revision=1"], Expect(
            "deployment.apps/web with revision #1\nPod Template:\n  Labels:\tapp=web\n\tpod-template-hash=<hash>\n"
            "  Containers:\n   app:\n    Image:\tnginx:1.27\n    Port:\t<none>\n    Host Port:\t<none>\n"
            "    Environment:\t<none>\n    Mounts:\t<none>\n  Volumes:\t<none>\n  Node-Selectors:\t<none>\n"
            "  Tolerations:\t<none>\n\n")),
        (["rollout", "undo", "deployment/web"], Expect("deployment.apps/web rolled back\n")),
    ])
    k.ok("rollout", "status", "deployment/web", "--timeout=30s")
    d = k.json("deployment", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    k.run_table([
        (["rollout", "history", "deployment/web"], Expect(
            "deployment.apps/web \nREVISION CHANGE-CAUSE\n2 <none>\n3 <none>\n\n")),
        (["rollout", "undo", "deployment/web", "--to-revision=99"],
         Expect("", "error: unable to find specified revision 99 in history\n", 1)),
        (["rollout", "pause", "deployment/web"], Expect("deployment.apps/web paused\n")),
        (["rollout", "pause", "deployment/web"], Expect("", 'error: deployments.apps "web" is already paused\n', 1)),
        (["rollout", "undo", "deployment/web"],
         Expect("", "error: you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' "
                "and try again\n", 1)),
        (["rollout", "resume", "deployment/web"], Expect("deployment.apps/web resumed\n")),
        (["rollout", "resume", "deployment/web"], Expect("", 'error: deployments.apps "web" is not paused\n', 1)),
        (["rollout", "restart", "deployment/web"], Expect("deployment.apps/web restarted\n")),
    ])
    d = k.json("deployment", "web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert d["spec"].get("paused") in (None, False)
    r = k.expect(["rollout", "status", "deployment/web", "--timeout=30s"], Expect(None))
    assert r.out.endswith('deployment "web" successfully rolled out\n')
    assert len(k.json("replicasets", "-l", "app=web")["items"]) == 3


# ---------------------------------------------------------------- label, annotate, set

def test_label_annotate(k: K) -> None:
    k.ok("create", "configmap", "c")
    k.run_table([
        (["annotate", "configmap", "c", "note=one"], Expect("configmap/c annotated\n")),
        (["annotate", "configmap", "c", "note=two"],
         Expect("", "error: --overwrite is false but found the following declared annotation(s): 'note' already has "
                "a value (one)\n", 1)),
        (["annotate", "configmap", "c", "note=two", "--overwrite"], Expect("configmap/c annotated\n")),
        (["get", "configmap", "c", "-o", "jsonpath={.metadata.annotations.note}"], Expect("two")),
        (["annotate", "configmap", "c", "note-"], Expect("configmap/c annotated\n")),
        (["label", "configmap", "c", "tier=db", "app=x"], Expect("configmap/c labeled\n")),
        (["label", "configmap", "c", "tier=web"],
         Expect("", "error: 'tier' already has a value (db), and --overwrite is false\n", 1)),
        (["label", "configmap", "c", "tier-"], Expect("configmap/c unlabeled\n")),
        (["label", "configmap", "c", "tier-"], Expect('label "tier" not found.\nconfigmap/c not labeled\n')),
        (["get", "configmap", "c", "--show-labels"], Expect("NAME DATA AGE LABELS\nc 0 <age> app=x\n")),
        (["label", "configmap", "c", "bad key=x"],
         Expect("", None, 1)),
        (["label", "configmap", "c", "app=y", "--overwrite", "--resource-version=1"],
         Expect("", 'Error from server (Conflict): Operation cannot be fulfilled on configmaps "c": the object has '
                "been modified; please apply your changes to the latest version and try again\n", 1)),
    ])
    meta = k.json("configmap", "c")["metadata"]
    assert meta["labels"] == {"app": "x"} and "annotations" not in meta


def test_set(k: K) -> None:
    ready_deployment(k, "web", 1)
    k.run_table([
        (["set", "env", "deployment/web", "FOO=bar", "EMPTY="], Expect("deployment.apps/web env updated\n")),
        (["set", "env", "deployment/web", "--list"], Expect("# Deployment web, container app\nFOO=bar\nEMPTY=\n")),
        (["set", "env", "deployment/web", "FOO-"], Expect("deployment.apps/web env updated\n")),
        (["set", "image", "deployment/web", "app=nginx:1.28"], Expect("deployment.apps/web image updated\n")),
        (["set", "image", "deployment/web", "nope=x"], Expect("", 'error: unable to find container named "nope"\n',
                                                              1)),
        (["set", "resources", "deployment/web", "-c=app", "--limits=cpu=200m,memory=512Mi", "--requests=cpu=100m"],
         Expect("deployment.apps/web resource requirements updated\n")),
        # Nothing to change: kubectl sends nothing and says nothing.
        (["set", "resources", "deployment/web", "--limits=cpu=200m,memory=512Mi", "--requests=cpu=100m"],
         Expect("")),
    ])
    c = k.json("deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert c["env"] == [{"name": "EMPTY"}]
    assert c["image"] == "nginx:1.28"
    # Kubernetes defaults a request that is not given to its limit.
    assert c["resources"] == {"limits": {"cpu": "200m", "memory": "512Mi"},
                              "requests": {"cpu": "100m", "memory": "512Mi"}}


# ---------------------------------------------------------------- delete, dry run

def test_delete(k: K) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        k.ok("create", "configmap", name)
        k.ok("label", "configmap", name, f"tier={tier}")
    k.run_table([
        (["delete", "configmap", "-l", "tier=x"], Expect('configmap "a" deleted\nconfigmap "b" deleted\n')),
        (["delete", "configmap", "-l", "tier=x"], Expect("No resources found\n")),
        (["delete", "configmap", "nope"], Expect("", 'Error from server (NotFound): configmaps "nope" not found\n', 1)),
        (["delete", "configmap", "nope", "--ignore-not-found"], Expect("")),
        (["delete", "configmap", "--all", "--dry-run=server"],
         Expect('configmap "c" deleted (server dry run)\nconfigmap "kube-root-ca.crt" deleted (server dry run)\n')),
        (["get", "configmap", "-o", "name"], Expect("configmap/c\nconfigmap/kube-root-ca.crt\n")),
        (["delete", "configmap", "--field-selector=metadata.name!=kube-root-ca.crt"],
         Expect('configmap "c" deleted\n')),
        (["get", "configmap", "-l", "tier"], Expect("", f"No resources found in {k.ns} namespace.\n")),
    ])
    ready_deployment(k, "web", 2)
    k.expect(["delete", "deployment", "web"], Expect('deployment.apps "web" deleted\n'))
    # Background propagation: the garbage collector removes the ReplicaSet and its pods.
    wait_until(lambda: not k.ok("get", "replicasets,pods", "-o", "name").strip(), 20, "dependents gone")


def test_dry_run_server(k: K) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"
    k.expect(["create", "configmap", "c1", "--from-literal=a=b", "--dry-run=server"],
             Expect("configmap/c1 created (server dry run)\n"))
    k.expect(["apply", "--dry-run=server", "-f", "-"], Expect("configmap/c2 created (server dry run)\n"),
             input=cm.format(name="c2"))
    k.expect(["create", "--dry-run=server", "-f", "-"], Expect("configmap/c3 created (server dry run)\n"),
             input=cm.format(name="c3"))
    k.expect(["get", "configmaps"], Expect("NAME DATA AGE\nkube-root-ca.crt 1 <age>\n"))
    # The server's answer to a dry-run create is the defaulted object, not stored.
    d = yaml.safe_load(k.ok("create", "deployment", "d", "--image=nginx", "--dry-run=server", "-o", "yaml"))
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert (c["imagePullPolicy"], c["terminationMessagePath"]) == ("Always", "/dev/termination-log")
    assert d["metadata"]["generation"] == 1 and d["metadata"]["uid"] and "resourceVersion" not in d["metadata"]
    k.expect(["get", "deployments"], Expect("", f"No resources found in {k.ns} namespace.\n"))
    k.ok("create", "configmap", "real", "--from-literal=a=1")
    rv = k.json("configmap", "real")["metadata"]["resourceVersion"]
    k.expect(["apply", "--dry-run=server", "-f", "-"], Expect(
        "configmap/real configured (server dry run)\n",
        "Warning: resource configmaps/real is missing the kubectl.kubernetes.io/last-applied-configuration annotation "
        "which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by "
        "either kubectl create --save-config or kubectl apply. The missing annotation will be patched "
        "automatically.\n"), input=cm.format(name="real"))
    k.run_table([
        (["patch", "configmap", "real", "-p", '{"data":{"a":"2"}}', "--dry-run=server"],
         Expect("configmap/real patched\n")),
        (["label", "configmap", "real", "x=y", "--dry-run=server"],
         Expect("configmap/real labeled (server dry run)\n")),
        (["delete", "configmap", "real", "--dry-run=server"], Expect('configmap "real" deleted (server dry run)\n')),
        (["scale", "deployment", "nope", "--replicas=2", "--dry-run=server"],
         Expect("", 'error: no objects passed to scale deployments.apps "nope" not found\n', 1)),
    ])
    after = k.json("configmap", "real")
    assert after["data"] == {"a": "1"} and after["metadata"]["resourceVersion"] == rv
    assert "labels" not in after["metadata"]
    # A dry-run create of something that exists is refused as the real create would be.
    k.expect(["create", "configmap", "real", "--dry-run=server"],
             Expect("", 'error: failed to create configmap: configmaps "real" already exists\n', 1))


# ---------------------------------------------------------------- field validation, warnings

DEPLOY_UNKNOWN = deployment_yaml("unk", 1, extra="        foo: bar\n").replace("  replicas: 1\n",
                                                                                  "  replicas: 1\n  replcias: 2\n")


def test_field_validation(k: K) -> None:
    k.expect(["apply", "-f", "-"], Expect(
        "", 'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replcias", unknown field '
        '"spec.template.spec.containers[0].foo"\n', 1), input=DEPLOY_UNKNOWN)
    k.expect(["create", "-f", "-"], Expect(
        "", 'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replcias", unknown field '
        '"spec.template.spec.containers[0].foo"\n', 1), input=DEPLOY_UNKNOWN)
    k.expect(["apply", "--validate=warn", "-f", "-"], Expect(
        "deployment.apps/unk created\n", 'Warning: unknown field "spec.replcias"\n'
        'Warning: unknown field "spec.template.spec.containers[0].foo"\n'), input=DEPLOY_UNKNOWN)
    stored = k.json("deployment", "unk")
    assert "replcias" not in stored["spec"] and "foo" not in stored["spec"]["template"]["spec"]["containers"][0]
    # The unknown fields were dropped, so the live object lacks what the last-applied
    # configuration has: kubectl sends a patch again (and says so), with nothing to report.
    k.expect(["apply", "--validate=false", "-f", "-"], Expect("deployment.apps/unk configured\n"),
             input=DEPLOY_UNKNOWN)
    # Updates of an existing object (a strategic merge patch) are checked too.
    r = k.expect(["apply", "-f", "-"], Expect("", None, 1), input=DEPLOY_UNKNOWN.replace("replicas: 1", "replicas: 2"))
    last = r.err.rstrip().splitlines()[-1]
    assert last.startswith('for: "STDIN": error when patching "STDIN": strict decoding error: unknown field '), r.err
    assert sorted(last.split(": strict decoding error: ")[1].split(", ")) == [  # the order of a Go map walk
        'unknown field "spec.replcias"', 'unknown field "spec.template.spec.containers[0].foo"'], r.err
    k.expect(["replace", "-f", "-"], Expect(
        "", 'Error from server (BadRequest): error when replacing "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replcias", unknown field '
        '"spec.template.spec.containers[0].foo"\n', 1), input=DEPLOY_UNKNOWN)
    # kubectl patch sends no fieldValidation: the server's default is Warn.
    k.expect(["patch", "deployment", "unk", "--type=merge", "-p", '{"spec":{"replcias":3}}'], Expect(
        "deployment.apps/unk patched (no change)\n", 'Warning: unknown field "spec.replcias"\n'))


def test_numbers_in_string_maps_are_refused(k: K) -> None:
    """The most common decoding error of hand-written YAML: `port: 8080` in a ConfigMap,
    `version: 1` as a label."""
    k.expect(["apply", "-f", "-"], Expect(
        "", 'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be '
        'handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string\n',
        1), input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\ndata:\n  port: 8080\n")
    k.expect(["apply", "-f", "-"], Expect(
        "", 'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: json: cannot unmarshal number into Go struct field ObjectMeta.spec.template.'
        'metadata.labels of type string\n', 1),
        input=deployment_yaml("typed", 1).replace("      labels: {app: typed}\n    spec:",
                                                   "      labels: {app: typed, version: 1}\n    spec:"))
    k.expect(["get", "configmaps,deployments"], Expect("NAME DATA AGE\nconfigmap/kube-root-ca.crt 1 <age>\n"))


def test_wrong_scalar_types_are_refused(k: K) -> None:
    """A string where an int32 or a bool belongs, an object where a list belongs: refused by
    every write path with the words of the decoder Kubernetes uses on it, storage untouched."""
    ready_deployment(k, "web", 1)
    err = "The request is invalid: patch: Invalid value: "
    # Strategic merge patch (kubectl's default): the unstructured converter, the patch shown as Go's %+v.
    k.expect(["patch", "deployment", "web", "-p", '{"spec":{"replicas":"x"}}'],
             Expect("", err + '"map[spec:map[replicas:x]]": unrecognized type: int32\n', 1))
    k.expect(["patch", "deployment", "web", "-p", '{"spec":{"template":{"spec":{"hostNetwork":"yes"}}}}'],
             Expect("", err + '"map[spec:map[template:map[spec:map[hostNetwork:yes]]]]": unrecognized type: bool\n',
                    1))
    # JSON merge and JSON patches: Go's JSON decoder, the patched object shown as JSON.
    for typ, patch, detail in [
        ("merge", '{"spec":{"replicas":"x"}}',
         "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
        ("merge", '{"spec":{"template":{"spec":{"containers":{"name":"app"}}}}}',
         "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type "
         "[]v1.Container"),
        ("json", '[{"op":"replace","path":"/spec/template/spec/containers/0/ports","value":[{"containerPort":"80"}]}]',
         "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports."
         "containerPort of type int32"),
    ]:
        r = k.expect(["patch", "deployment", "web", "--type", typ, "-p", patch], Expect("", None, 1))
        assert r.err.startswith(err + '"{\\"apiVersion\\":\\"apps/v1\\",'), r.err
        assert r.err.endswith(f'}}": {detail}\n'), r.err
    # Create and update: a 400 from the body's decoding.
    bad = deployment_yaml("bad", 1).replace("replicas: 1", 'replicas: "2"')
    decode = ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
              "struct field DeploymentSpec.spec.replicas of type int32\n")
    k.expect(["create", "-f", "-"], Expect("", f"Error from server (BadRequest): error when creating \"STDIN\": {decode}",
                                           1), input=bad)
    k.expect(["replace", "-f", "-"], Expect("", f"Error from server (BadRequest): error when replacing \"STDIN\": "
                                            f"{decode}", 1), input=bad.replace("name: bad", "name: web", 1))
    # Server-side apply: structured-merge-diff's typing error, which Kubernetes answers as a 500.
    k.expect(["apply", "--server-side", "-f", "-"], Expect("", (
        "Error from server: failed to create typed patch object "
        f"({k.ns}/web; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string\n"),
        1), input=deployment_yaml("web", 1).replace("replicas: 1", 'replicas: "x"'))
    assert k.json("deployment", "web")["spec"]["replicas"] == 1
    k.expect(["get", "deployment", "bad"], Expect("", 'Error from server (NotFound): deployments.apps "bad" not found\n',
                                                  1))


def test_duplicate_fields(k: K, tmp_path: Path) -> None:
    # kubectl itself reads YAML into a map: of a duplicated key only the last survives, so
    # against Kubernetes too the object is created with replicas 2.
    dup = deployment_yaml("dup", 1).replace("  replicas: 1\n", "  replicas: 1\n  replicas: 2\n")
    k.expect(["apply", "-f", "-"], Expect("deployment.apps/dup created\n"), input=dup)
    assert k.json("deployment", "dup")["spec"]["replicas"] == 2
    # A JSON body with a duplicated key reaches the server as written: `create --raw` sends it.
    body = tmp_path / "dup.json"
    body.write_text('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"raw","labels":{"a":"1","a":"2"}},'
                    '"data":{"k":"1"},"data":{"k":"2"},"extra":1}')
    base = f"/api/v1/namespaces/{k.ns}/configmaps"
    r = k.expect(["create", "--raw", f"{base}?fieldValidation=Strict", "-f", str(body)], Expect("", None, 1))
    assert r.err == ('Error from server (BadRequest): ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                     'strict decoding error: duplicate field "a", duplicate field "data", unknown field "extra"\n'), r.err
    k.expect(["get", "configmap", "raw"], Expect("", 'Error from server (NotFound): configmaps "raw" not found\n', 1))
    r = k.expect(["create", "--raw", f"{base}?fieldValidation=Warn", "-f", str(body), "-v=0"], Expect(None, None))
    assert json.loads(r.out)["data"] == {"k": "2"}
    assert r.err == ('Warning: duplicate field "a"\nWarning: duplicate field "data"\nWarning: unknown field "extra"\n')
    k.ok("delete", "configmap", "raw")
    r = k.expect(["create", "--raw", f"{base}?fieldValidation=Ignore", "-f", str(body)], Expect(None, ""))
    assert json.loads(r.out)["metadata"]["labels"] == {"a": "2"}


WARNINGS = [
    # (manifest extra for the pod template, what Kubernetes v1.32 warns)
    ("nodeSelector", "      nodeSelector: {beta.kubernetes.io/os: linux}\n",
     'Warning: spec.template.spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use '
     '"kubernetes.io/os" instead\n'),
    ("seccomp", None,
     'Warning: spec.template.metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: non-functional in '
     'v1.27+; use the "seccompProfile" field instead\n'),
]


@pytest.mark.parametrize(("case", "extra", "warning"), WARNINGS, ids=[w[0] for w in WARNINGS])
def test_deprecation_warnings(k: K, case: str, extra: str | None, warning: str) -> None:
    doc = deployment_yaml("warned", 1)
    if extra:
        doc = doc.replace("    spec:\n      containers:", f"    spec:\n{extra}      containers:")
    else:
        doc = doc.replace("      labels: {app: warned}\n    spec:",
                          "      labels: {app: warned}\n      annotations:\n"
                          "        seccomp.security.alpha.kubernetes.io/pod: runtime/default\n    spec:")
    k.expect(["apply", "-f", "-"], Expect("deployment.apps/warned created\n", warning), input=doc)
    # A label does not change the generation: no warning again.
    k.expect(["label", "deployment", "warned", "x=y"], Expect("deployment.apps/warned labeled\n"))


def test_pod_deprecation_warning(k: K) -> None:
    pod = """apiVersion: v1
kind: Pod
metadata:
  name: old
  annotations:
    seccomp.security.alpha.kubernetes.io/pod: runtime/default
spec:
  nodeSelector:
    failure-domain.beta.kubernetes.io/zone: a
  containers:
  - name: c
    image: busybox
"""
    r = k.expect(["apply", "-f", "-"], Expect("pod/old created\n", None), input=pod)
    assert sorted(r.err.splitlines()) == sorted([
        'Warning: metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: non-functional in v1.27+; use the '
        '"seccompProfile" field instead',
        'Warning: spec.nodeSelector[failure-domain.beta.kubernetes.io/zone]: deprecated since v1.17; use '
        '"topology.kubernetes.io/zone" instead'])

