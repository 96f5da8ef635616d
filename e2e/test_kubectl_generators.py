"""The real kubectl's generator commands against mizzen.

`kubectl create <kind>`, `create token`, `autoscale`, `auth can-i` and `auth whoami` send their
objects only as `application/vnd.kubernetes.protobuf` (no JSON fallback): each command must
print what it prints against Kubernetes, and `kubectl get -o json` must show the fields the
command set."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mizzen.testing import Cluster

Check = Callable[[dict[str, Any]], Any]


@pytest.fixture(scope="module")
def ns(apiserver: Cluster) -> str:
    """A namespace made by `kubectl create namespace`, the most used generator of all."""
    name = f"gen-{uuid.uuid4().hex[:8]}"
    r = apiserver.kubectl("create", "namespace", name)
    assert r.out == f"namespace/{name} created\n"
    got = json.loads(apiserver.kubectl("get", "namespace", name, "-o", "json").out)
    assert got["metadata"]["name"] == name and got["status"]["phase"] == "Active"
    return name


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    d = tmp_path_factory.mktemp("tls")
    (d / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return d / "tls.crt", d / "tls.key"


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def container(o: dict[str, Any]) -> dict[str, Any]:
    return o["spec"]["template"]["spec"]["containers"][0]


# (kubectl args, what it prints, the resource/name to read back, checks on the object)
GENERATORS: list[tuple[list[str], str, str, list[tuple[Check, Any]]]] = [
    (["create", "deployment", "web", "--image=busybox", "--replicas=3", "--port=8080"],
     "deployment.apps/web created", "deployment/web", [
         (lambda o: o["spec"]["replicas"], 3),
         (lambda o: o["metadata"]["labels"], {"app": "web"}),
         (lambda o: o["spec"]["selector"], {"matchLabels": {"app": "web"}}),
         (lambda o: container(o)["ports"][0]["containerPort"], 8080),
         (lambda o: container(o)["image"], "busybox"),
     ]),
    (["create", "deployment", "idle", "--image=nginx", "--replicas=0", "--", "sleep", "10"],
     "deployment.apps/idle created", "deployment/idle", [
         (lambda o: o["spec"]["replicas"], 0),
         (lambda o: container(o)["command"], ["sleep", "10"]),
     ]),
    (["create", "configmap", "cm", "--from-literal=a=b", "--from-literal=empty="],
     "configmap/cm created", "configmap/cm", [
         (lambda o: o["data"], {"a": "b", "empty": ""}),
     ]),
    (["create", "secret", "generic", "s", "--from-literal=a=b"],
     "secret/s created", "secret/s", [
         (lambda o: o["data"], {"a": b64("b")}),
         (lambda o: o["type"], "Opaque"),
     ]),
    (["create", "secret", "docker-registry", "reg", "--docker-server=r.example", "--docker-username=u",
      "--docker-password=p", "--docker-email=e@example.com"],
     "secret/reg created", "secret/reg", [
         (lambda o: o["type"], "kubernetes.io/dockerconfigjson"),
         (lambda o: json.loads(base64.b64decode(o["data"][".dockerconfigjson"]))["auths"]["r.example"]["auth"],
          b64("u:p")),
     ]),
    (["create", "service", "clusterip", "c", "--tcp=80:8080"],
     "service/c created", "service/c", [
         (lambda o: o["spec"]["type"], "ClusterIP"),
         (lambda o: o["spec"]["ports"][0]["port"], 80),
         (lambda o: o["spec"]["ports"][0]["targetPort"], 8080),
         (lambda o: o["spec"]["selector"], {"app": "c"}),
     ]),
    (["create", "service", "nodeport", "n", "--tcp=80:8080"],
     "service/n created", "service/n", [
         (lambda o: o["spec"]["type"], "NodePort"),
         (lambda o: (o["spec"]["ports"][0]["port"], o["spec"]["ports"][0]["targetPort"]), (80, 8080)),
     ]),
    (["create", "service", "nodeport", "fixed", "--tcp=80:8080", "--node-port=30080"],
     "service/fixed created", "service/fixed", [
         (lambda o: o["spec"]["ports"][0]["nodePort"], 30080),
     ]),
    (["create", "service", "clusterip", "headless", "--clusterip=None"],
     "service/headless created", "service/headless", [
         (lambda o: o["spec"]["clusterIP"], "None"),
     ]),
    (["create", "job", "j", "--image=busybox", "--", "echo", "hi"],
     "job.batch/j created", "job/j", [
         (lambda o: container(o)["command"], ["echo", "hi"]),
         (lambda o: o["spec"]["template"]["spec"]["restartPolicy"], "Never"),
     ]),
    (["create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"],
     "cronjob.batch/cj created", "cronjob/cj", [
         (lambda o: o["spec"]["schedule"], "*/5 * * * *"),
         (lambda o: o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"], ["date"]),
         (lambda o: o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"], "OnFailure"),
     ]),
    (["create", "serviceaccount", "sa"],
     "serviceaccount/sa created", "serviceaccount/sa", [
         (lambda o: o["metadata"]["name"], "sa"),
     ]),
    (["create", "role", "r", "--verb=get,list", "--resource=pods,deployments.apps"],
     "role.rbac.authorization.k8s.io/r created", "role/r", [
         (lambda o: o["rules"], [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
                                 {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"]}]),
     ]),
    (["create", "rolebinding", "rb", "--role=r", "--user=u", "--serviceaccount=default:sa"],
     "rolebinding.rbac.authorization.k8s.io/rb created", "rolebinding/rb", [
         (lambda o: o["roleRef"], {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}),
         (lambda o: o["subjects"], [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u"},
                                    {"kind": "ServiceAccount", "name": "sa", "namespace": "default"}]),
     ]),
    (["create", "quota", "q", "--hard=pods=10,requests.cpu=1,limits.memory=2Gi", "--scopes=NotTerminating"],
     "resourcequota/q created", "resourcequota/q", [
         (lambda o: o["spec"]["hard"], {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi"}),
         (lambda o: o["spec"]["scopes"], ["NotTerminating"]),
     ]),
    (["create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=1"],
     "poddisruptionbudget.policy/pdb created", "poddisruptionbudget/pdb", [
         (lambda o: o["spec"]["minAvailable"], 1),
         (lambda o: o["spec"]["selector"], {"matchLabels": {"app": "web"}}),
     ]),
    (["create", "pdb", "pdb-pct", "--selector=app=web", "--max-unavailable=50%"],
     "poddisruptionbudget.policy/pdb-pct created", "poddisruptionbudget/pdb-pct", [
         (lambda o: o["spec"]["maxUnavailable"], "50%"),
     ]),
    (["create", "ingress", "ing", "--class=nginx", "--rule=host.example/path=svc:80",
      "--rule=foo.example/*=svc2:http,tls=secret1"],
     "ingress.networking.k8s.io/ing created", "ingress/ing", [
         (lambda o: o["spec"]["ingressClassName"], "nginx"),
         (lambda o: o["spec"]["rules"][0], {"host": "host.example", "http": {"paths": [
             {"path": "/path", "pathType": "Exact",
              "backend": {"service": {"name": "svc", "port": {"number": 80}}}}]}}),
         (lambda o: o["spec"]["rules"][1]["http"]["paths"][0]["backend"]["service"],
          {"name": "svc2", "port": {"name": "http"}}),
         (lambda o: o["spec"]["rules"][1]["http"]["paths"][0]["pathType"], "Prefix"),
         (lambda o: o["spec"]["tls"], [{"hosts": ["foo.example"], "secretName": "secret1"}]),
     ]),
]

CLUSTER_GENERATORS: list[tuple[list[str], str, str, list[tuple[Check, Any]]]] = [
    (["create", "clusterrole", "{p}-cr", "--verb=get", "--non-resource-url=/healthz"],
     "clusterrole.rbac.authorization.k8s.io/{p}-cr created", "clusterrole/{p}-cr", [
         (lambda o: o["rules"], [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]),
     ]),
    (["create", "clusterrole", "{p}-agg", "--aggregation-rule=rbac.example.com/aggregate=true"],
     "clusterrole.rbac.authorization.k8s.io/{p}-agg created", "clusterrole/{p}-agg", [
         (lambda o: o["aggregationRule"], {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]}),
     ]),
    (["create", "clusterrolebinding", "{p}-crb", "--clusterrole={p}-cr", "--group=devs"],
     "clusterrolebinding.rbac.authorization.k8s.io/{p}-crb created", "clusterrolebinding/{p}-crb", [
         (lambda o: o["roleRef"]["kind"], "ClusterRole"),
         (lambda o: o["subjects"], [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"}]),
     ]),
    (["create", "priorityclass", "{p}-pc", "--value=1000", "--description=batch", "--preemption-policy=Never"],
     "priorityclass.scheduling.k8s.io/{p}-pc created", "priorityclass/{p}-pc", [
         (lambda o: (o["value"], o["description"], o["preemptionPolicy"]), (1000, "batch", "Never")),
     ]),
    (["create", "priorityclass", "{p}-zero", "--value=0"],
     "priorityclass.scheduling.k8s.io/{p}-zero created", "priorityclass/{p}-zero", [
         (lambda o: o["value"], 0),
     ]),
]


def _check(c: Cluster, args: list[str], printed: str, target: str, checks: list[tuple[Check, Any]],
           ns: str | None) -> None:
    where = ["-n", ns] if ns else []
    r = c.kubectl(*where, *args, check=False)
    assert (r.code, r.out) == (0, printed + "\n"), str(r)
    obj = json.loads(c.kubectl("get", target, *where, "-o", "json").out)
    for get, want in checks:
        assert get(obj) == want, json.dumps(obj, indent=1)


@pytest.mark.parametrize(("args", "printed", "target", "checks"), GENERATORS,
                         ids=[" ".join(g[0][:3]) for g in GENERATORS])
def test_namespaced_generator(apiserver: Cluster, ns: str, args: list[str], printed: str, target: str,
                              checks: list[tuple[Check, Any]]) -> None:
    _check(apiserver, args, printed, target, checks, ns)


@pytest.mark.parametrize(("args", "printed", "target", "checks"), CLUSTER_GENERATORS,
                         ids=[" ".join(g[0][:2]) + " " + g[0][2].replace("{p}", "") for g in CLUSTER_GENERATORS])
def test_cluster_generator(apiserver: Cluster, ns: str, args: list[str], printed: str, target: str,
                           checks: list[tuple[Check, Any]]) -> None:
    fill = [a.replace("{p}", ns) for a in args]
    _check(apiserver, fill, printed.replace("{p}", ns), target.replace("{p}", ns), checks, None)


def test_create_job_from_cronjob(apiserver: Cluster, ns: str) -> None:
    apiserver.kubectl("create", "cronjob", "nightly", "--image=busybox", "--schedule=@daily", "-n", ns, "--", "date")
    _check(apiserver, ["create", "job", "from-cj", "--from=cronjob/nightly"], "job.batch/from-cj created",
           "job/from-cj", [
               (lambda o: o["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual"),
               (lambda o: [(r["kind"], r["name"], r["controller"]) for r in o["metadata"]["ownerReferences"]],
                [("CronJob", "nightly", True)]),
               (lambda o: container(o)["command"], ["date"]),
           ], ns)


def test_create_secret_tls(apiserver: Cluster, ns: str, tls_files: tuple[Path, Path]) -> None:
    crt, key = tls_files
    r = apiserver.kubectl("create", "secret", "tls", "t", f"--cert={crt}", f"--key={key}", "-n", ns)
    assert r.out == "secret/t created\n"
    obj = json.loads(apiserver.kubectl("get", "secret", "t", "-n", ns, "-o", "json").out)
    assert obj["type"] == "kubernetes.io/tls"
    assert base64.b64decode(obj["data"]["tls.crt"]) == crt.read_bytes()
    assert base64.b64decode(obj["data"]["tls.key"]) == key.read_bytes()


def test_dry_run_server_creates_nothing(apiserver: Cluster, ns: str) -> None:
    r = apiserver.kubectl("create", "configmap", "dry", "--from-literal=x=y", "--dry-run=server", "-o", "json", "-n", ns)
    assert json.loads(r.out)["data"] == {"x": "y"}
    missing = apiserver.kubectl("get", "configmap", "dry", "-n", ns, check=False)
    assert missing.code == 1 and 'configmaps "dry" not found' in missing.err


def test_autoscale(apiserver: Cluster, ns: str) -> None:
    apiserver.kubectl("create", "deployment", "scaled", "--image=busybox", "-n", ns)
    r = apiserver.kubectl("autoscale", "deployment", "scaled", "--min=2", "--max=5", "--cpu-percent=80", "-n", ns)
    assert r.out == "horizontalpodautoscaler.autoscaling/scaled autoscaled\n"
    hpa = json.loads(apiserver.kubectl("get", "hpa", "scaled", "-n", ns, "-o", "json").out)
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 5
    assert hpa["spec"]["scaleTargetRef"] == {"kind": "Deployment", "name": "scaled", "apiVersion": "apps/v1"}
    # kubectl v1.32 sends autoscaling/v1; the same object read as v2 carries the CPU target as a metric
    assert hpa["apiVersion"] in ("autoscaling/v1", "autoscaling/v2")
    if hpa["apiVersion"] == "autoscaling/v1":
        assert hpa["spec"]["targetCPUUtilizationPercentage"] == 80
    else:
        assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80


def test_nodeport_is_allocated(apiserver: Cluster, ns: str) -> None:
    apiserver.kubectl("create", "service", "nodeport", "alloc", "--tcp=80:8080", "-n", ns)
    spec = json.loads(apiserver.kubectl("get", "service", "alloc", "-n", ns, "-o", "json").out)["spec"]
    assert 30000 <= spec["ports"][0].get("nodePort", 0) <= 32767
    assert spec.get("clusterIP")


def test_create_token(apiserver: Cluster, ns: str) -> None:
    apiserver.kubectl("create", "serviceaccount", "tok", "-n", ns)
    r = apiserver.kubectl("create", "token", "tok", "--duration=10m", "-n", ns, check=False)
    assert r.code == 0, str(r)
    header, payload, _sig = r.out.strip().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == f"system:serviceaccount:{ns}:tok"
    # The token authenticates as the service account.
    who = apiserver.kubectl("auth", "whoami", "--token", r.out.strip(), "-o", "jsonpath={.status.userInfo.username}")
    assert who.out == f"system:serviceaccount:{ns}:tok"


@pytest.mark.parametrize(("args", "printed"), [
    (["auth", "can-i", "create", "pods"], "yes"),
    (["auth", "can-i", "list", "deployments.apps", "--subresource=scale", "-n", "kube-system"], "yes"),
    (["auth", "can-i", "get", "/healthz"], "yes"),
    (["auth", "can-i", "delete", "nodes", "--all-namespaces"], "yes"),
])
def test_auth_can_i(apiserver: Cluster, args: list[str], printed: str) -> None:
    r = apiserver.kubectl(*args, check=False)
    assert (r.code, r.out.strip()) == (0, printed), str(r)


def test_auth_can_i_list(apiserver: Cluster) -> None:
    r = apiserver.kubectl("auth", "can-i", "--list")
    header = r.out.splitlines()[0].split()
    assert header == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert any(line.split()[:1] == ["*.*"] for line in r.out.splitlines()[1:])


def test_auth_whoami(apiserver: Cluster) -> None:
    r = apiserver.kubectl("auth", "whoami")
    rows = dict(line.split(None, 1) for line in r.out.splitlines()[1:] if line.strip())
    assert r.out.splitlines()[0].split() == ["ATTRIBUTE", "VALUE"]
    assert rows["Username"].strip()
    assert "system:authenticated" in rows["Groups"]
    who = json.loads(apiserver.kubectl("auth", "whoami", "-o", "json").out)
    assert who["kind"] == "SelfSubjectReview" and who["status"]["userInfo"]["username"] == rows["Username"].strip()
