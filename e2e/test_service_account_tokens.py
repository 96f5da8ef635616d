"""Service account tokens end to end, on a real node (`mizzen up --runtime real`), driven by
the real kubectl: every pod gets the projected `kube-api-access-xxxxx` volume; its container
reads the token, the cluster CA and its namespace at /var/run/secrets/kubernetes.io/
serviceaccount; the token authenticates as `system:serviceaccount:<ns>:default` until the
pod is deleted; a pod naming a missing service account is refused; a token that cannot be
fetched is a FailedMount and the pod waits in ContainerCreating until it can."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing import Cluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"), reason="needs root and busybox-static"),
]

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("satokens")
    c = Cluster.launch(tmp, "--runtime", "real", timeout=120)
    try:
        c.wait_for(lambda: c.kubectl("get", "node", "node-1", "-o",
                                     "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                                     check=False).out == "True", 60, what="node-1 Ready")
        yield c
    finally:
        c.stop()
        kubelet_dir = c.data_dir / "kubelet"
        if (kubelet_dir / "runtime-name").exists():  # whatever the stop left behind
            from kubelet.runtime import Runtime
            Runtime(str(kubelet_dir)).cleanup_all_sync()


def _run(c: Cluster, name: str, *extra: str) -> None:
    c.kubectl("run", name, "--image=busybox", "--image-pull-policy=Never", "--restart=Never", *extra, "--",
              "sleep", "3600")


def _claims(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_container_reads_a_token_that_authenticates_until_the_pod_is_gone(cluster: Cluster) -> None:
    c = cluster
    _run(c, "reader")
    c.kubectl("wait", "--for=condition=Ready", "pod/reader", "--timeout=60s")
    pod = json.loads(c.kubectl("get", "pod", "reader", "-o", "json").out)
    (vol,) = pod["spec"]["volumes"]
    assert re.fullmatch(r"kube-api-access-[a-z0-9]{5}", vol["name"])

    token = c.kubectl("exec", "reader", "--", "cat", f"{SA_DIR}/token").out
    ca = c.kubectl("exec", "reader", "--", "cat", f"{SA_DIR}/ca.crt").out
    namespace = c.kubectl("exec", "reader", "--", "cat", f"{SA_DIR}/namespace").out
    assert namespace == "default"
    assert ca == c.kubectl("get", "configmap", "kube-root-ca.crt", "-o", r"jsonpath={.data.ca\.crt}").out
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    listing = c.kubectl("exec", "reader", "--", "ls", SA_DIR).out.split()
    assert listing == ["ca.crt", "namespace", "token"]
    # the projection's defaultMode (420 = 0644), through the ..data symlinks
    modes = c.kubectl("exec", "reader", "--", "stat", "-L", "-c", "%a %n", f"{SA_DIR}/token", f"{SA_DIR}/ca.crt").out
    assert modes == f"644 {SA_DIR}/token\n644 {SA_DIR}/ca.crt\n"

    # kubectl describe shows the mount and the volume as it does against Kubernetes
    described = c.kubectl("describe", "pod", "reader").out
    assert re.search(rf"^    Mounts:\n      {SA_DIR} from {vol['name']} \(ro\)$", described, re.M), described
    volumes = described[described.index("\nVolumes:\n"):described.index("\nQoS Class:")]
    assert re.sub(r" +", " ", volumes) == (
        f"\nVolumes:\n {vol['name']}:\n Type: Projected (a volume that contains injected data from multiple "
        "sources)\n TokenExpirationSeconds: 3607\n ConfigMapName: kube-root-ca.crt\n ConfigMapOptional: <nil>\n"
        " DownwardAPI: true")

    claims = _claims(token)
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["kubernetes.io"]["pod"] == {"name": "reader", "uid": pod["metadata"]["uid"]}
    assert claims["kubernetes.io"]["node"]["name"] == "node-1"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]

    # The token is a credential for the API server: SelfSubjectReview names the account, and
    # an ordinary read succeeds.
    who = json.loads(c.kubectl("auth", "whoami", "--token", token, "-o", "json").out)
    assert who["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"
    assert who["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["reader"]
    assert c.kubectl("get", "pod", "reader", "--token", token, "-o", "name").out == "pod/reader\n"

    # Once the pod is gone, its token is refused.
    c.kubectl("delete", "pod", "reader", "--grace-period=1")
    r = c.kubectl("get", "pods", "--token", token, check=False)
    assert (r.code, r.err) == (1, "error: You must be logged in to the server (Unauthorized)\n")


def test_pod_naming_a_missing_service_account_is_forbidden(cluster: Cluster) -> None:
    r = cluster.kubectl("run", "orphan", "--image=busybox", "--overrides",
                        '{"spec": {"serviceAccountName": "ghost"}}', check=False)
    assert (r.code, r.out, r.err) == (1, "", 'Error from server (Forbidden): pods "orphan" is forbidden: error '
                                      'looking up service account default/ghost: serviceaccount "ghost" not found\n')


def test_opting_out_of_the_token(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "serviceaccount", "quiet")
    c.kubectl("patch", "serviceaccount", "quiet", "-p", '{"automountServiceAccountToken": false}')
    _run(c, "quiet", "--overrides", '{"spec": {"serviceAccountName": "quiet"}}')
    pod = json.loads(c.kubectl("get", "pod", "quiet", "-o", "json").out)
    assert "volumes" not in pod["spec"]
    c.kubectl("delete", "pod", "quiet", "--grace-period=0", "--force", check=False)


def test_token_that_cannot_be_fetched_is_a_failed_mount(cluster: Cluster, tmp_path: Path) -> None:
    """The service account disappears between admission and the kubelet: FailedMount, the
    pod waits in ContainerCreating, and starts once the account is back."""
    c = cluster
    c.kubectl("create", "serviceaccount", "fleeting")
    # No scheduler picks this pod up: it is bound by hand once the account is gone.
    c.kubectl("apply", "-f", "-", input="""apiVersion: v1
kind: Pod
metadata: {name: waiter}
spec:
  schedulerName: nobody
  serviceAccountName: fleeting
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox, imagePullPolicy: Never, command: [sleep, "3600"]}]
""")
    vol = json.loads(c.kubectl("get", "pod", "waiter", "-o", "json").out)["spec"]["volumes"][0]["name"]
    c.kubectl("delete", "serviceaccount", "fleeting")
    binding = tmp_path / "binding.json"
    binding.write_text(json.dumps({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "waiter"},
                                   "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}))
    c.kubectl("create", "--raw", "/api/v1/namespaces/default/pods/waiter/binding", "-f", str(binding))

    message = (f'MountVolume.SetUp failed for volume "{vol}" : failed to fetch token: '
               'serviceaccounts "fleeting" not found')

    def failed_mount() -> bool:
        events = json.loads(c.kubectl("get", "events", "--field-selector", "involvedObject.name=waiter",
                                      "-o", "json").out)["items"]
        return any(e["reason"] == "FailedMount" and e["type"] == "Warning" and e["message"] == message
                   for e in events)
    c.wait_for(failed_mount, 30, what="a FailedMount event")
    assert c.kubectl("get", "pod", "waiter", "--no-headers").out.split()[2] == "ContainerCreating"

    c.kubectl("create", "serviceaccount", "fleeting")
    c.kubectl("wait", "--for=condition=Ready", "pod/waiter", "--timeout=60s")
    token = c.kubectl("exec", "waiter", "--", "cat", f"{SA_DIR}/token").out
    who = c.kubectl("auth", "whoami", "--token", token, "-o", "jsonpath={.status.userInfo.username}").out
    assert who == "system:serviceaccount:default:fleeting"
    c.kubectl("delete", "pod", "waiter", "--grace-period=1")


def test_bare_api_server_with_the_service_account_plugin(tmp_path: Path) -> None:
    """`mizzen apiserver` runs without controllers, so by default without the ServiceAccount
    plug-in (as a bare kube-apiserver is run); turned on, it refuses pods until the
    namespace's `default` ServiceAccount exists (nobody creates it here), then mounts its token."""
    with Cluster.start(tmp_path / "off", command="apiserver") as c:
        c.kubectl("run", "plain", "--image=busybox")
        spec = json.loads(c.kubectl("get", "pod", "plain", "-o", "json").out)["spec"]
        assert "serviceAccountName" not in spec and "volumes" not in spec
    with Cluster.start(tmp_path / "on", "--disable-admission-plugins=", command="apiserver") as c:
        r = c.kubectl("run", "early", "--image=busybox", check=False)
        assert (r.code, r.err) == (1, 'Error from server (Forbidden): pods "early" is forbidden: error looking up '
                                      'service account default/default: serviceaccount "default" not found\n')
        c.kubectl("create", "serviceaccount", "default")
        c.kubectl("run", "late", "--image=busybox")
        spec = json.loads(c.kubectl("get", "pod", "late", "-o", "json").out)["spec"]
        assert spec["serviceAccountName"] == "default"
        assert [v["name"][:16] for v in spec["volumes"]] == ["kube-api-access-"]
