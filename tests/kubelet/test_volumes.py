"""Volume contents on disk: the ..data atomic writer (updates, removed keys), configMap/secret
items, modes and optional, downwardAPI, projected, hostPath type checks, container mounts
with readOnly and subPath. emptyDir medium Memory (tmpfs) needs root."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelet import volumes
from kubelet.envvars import Sources
from kubelet.runtime import linux
from kubelet.volumes import VolumeError, container_mounts, setup_volumes, write_atomic

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
       "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "32Mi"}}}], "volumes": []}}


def _pod(*vols: dict) -> dict:
    return {**POD, "spec": {**POD["spec"], "volumes": list(vols)}}


def _read(p: Path) -> str:
    return p.read_text()


@pytest.fixture(autouse=True)
def _no_mount_left(tmp_path: Path) -> Iterator[None]:
    """Secret and projected volumes are tmpfs mounts: none outlives its test."""
    yield
    for mp in sorted(linux.mounts_under(str(tmp_path)), reverse=True):
        linux.umount2(mp, linux.MNT_DETACH)


def test_atomic_writer_swaps_data_and_prunes(tmp_path: Path) -> None:
    d = tmp_path / "v"
    assert write_atomic(str(d), {"a": (b"1", 0o644), "sub/b": (b"2", 0o600)})
    assert os.readlink(d / "a") == "..data/a" and _read(d / "a") == "1" and _read(d / "sub" / "b") == "2"
    first = os.readlink(d / "..data")
    assert not write_atomic(str(d), {"a": (b"1", 0o644), "sub/b": (b"2", 0o600)})   # unchanged: no swap
    assert os.readlink(d / "..data") == first
    assert write_atomic(str(d), {"a": (b"new", 0o644)})
    assert _read(d / "a") == "new"
    assert not (d / "sub").exists()                       # removed key disappears
    assert not (d / first).exists()                        # the old generation is gone
    assert stat.S_IMODE(os.stat(d / "a").st_mode) == 0o644


def test_configmap_items_modes_and_optional(tmp_path: Path) -> None:
    cm = {"data": {"k1": "v1", "k2": "v2"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}}
    pod = _pod({"name": "all", "configMap": {"name": "cm", "defaultMode": 0o600}},
               {"name": "some", "configMap": {"name": "cm", "items": [{"key": "k2", "path": "dir/two", "mode": 0o400}]}},
               {"name": "opt", "configMap": {"name": "gone", "optional": True}})
    prep = setup_volumes(pod, str(tmp_path), Sources({"cm": cm}, {}))
    all_ = Path(prep.paths["all"])
    assert sorted(p for p in os.listdir(all_) if not p.startswith("..")) == ["bin", "k1", "k2"]
    assert (all_ / "bin").read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(os.stat(all_ / "k1").st_mode) == 0o600
    some = Path(prep.paths["some"])
    assert _read(some / "dir" / "two") == "v2" and not (some / "k1").exists()
    assert stat.S_IMODE(os.stat(some / "dir" / "two").st_mode) == 0o400
    assert [p for p in os.listdir(prep.paths["opt"]) if not p.startswith("..")] == []


@pytest.mark.parametrize(("vol", "message"), [
    ({"name": "v", "configMap": {"name": "gone"}}, 'MountVolume.SetUp failed for volume "v" : configmap "gone" not found'),
    ({"name": "v", "configMap": {"name": "cm", "items": [{"key": "nope", "path": "x"}]}},
     "configmap references non-existent config key: nope"),
    ({"name": "v", "hostPath": {"path": "/nonexistent-mizzen-test", "type": "Directory"}},
     "hostPath type check failed: /nonexistent-mizzen-test is not a directory"),
    ({"name": "v", "hostPath": {"path": "/etc", "type": "File"}}, "hostPath type check failed: /etc is not a file"),
])
def test_volume_errors(tmp_path: Path, vol: dict, message: str) -> None:
    with pytest.raises(VolumeError, match=message):
        setup_volumes(_pod(vol), str(tmp_path), Sources({"cm": {"data": {"k": "v"}}}, {}))


def test_configmap_update_reaches_files(tmp_path: Path) -> None:
    pod = _pod({"name": "cm", "configMap": {"name": "cm"}})
    prep = setup_volumes(pod, str(tmp_path), Sources({"cm": {"data": {"k": "old"}}}, {}))
    f = Path(prep.paths["cm"]) / "k"
    assert _read(f) == "old"
    setup_volumes(pod, str(tmp_path), Sources({"cm": {"data": {"k": "new"}}}, {}))
    assert _read(f) == "new"


@pytest.mark.skipif(os.geteuid() != 0, reason="projected volumes are tmpfs, which needs root")
def test_downward_api_and_projected(tmp_path: Path) -> None:
    pod = _pod({"name": "d", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                                         "divisor": "1Mi"}}]}},
               {"name": "p", "projected": {"sources": [
                   {"configMap": {"name": "cm", "items": [{"key": "k", "path": "cfg"}]}},
                   {"secret": {"name": "s"}},
                   {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
                   {"serviceAccountToken": {"path": "token"}}], "defaultMode": 0o640}})
    sources = Sources({"cm": {"data": {"k": "v"}}}, {"s": {"data": {"pw": base64.b64encode(b"x").decode()}}})
    prep = setup_volumes(pod, str(tmp_path), sources, tokens={("p", "token"): "header.claims.signature"})
    d = Path(prep.paths["d"])
    assert _read(d / "labels") == 'app="x"' and _read(d / "mem") == "32"
    p = Path(prep.paths["p"])
    assert (_read(p / "cfg"), _read(p / "pw"), _read(p / "ns")) == ("v", "x", "ns")
    assert _read(p / "token") == "header.claims.signature"
    assert stat.S_IMODE(os.stat(p / "token").st_mode) == 0o640  # the projection's defaultMode
    # a refreshed token replaces the file atomically
    setup_volumes(pod, str(tmp_path), sources, tokens={("p", "token"): "header.claims.renewed"})
    assert _read(p / "token") == "header.claims.renewed"
    # never a fake token: a projection without one fails
    with pytest.raises(VolumeError, match='MountVolume.SetUp failed for volume "p" : failed to fetch token'):
        setup_volumes(pod, str(tmp_path / "other"), sources)


def test_host_path_or_create(tmp_path: Path) -> None:
    d, f = tmp_path / "made" / "dir", tmp_path / "made" / "file"
    prep = setup_volumes(_pod({"name": "d", "hostPath": {"path": str(d), "type": "DirectoryOrCreate"}},
                              {"name": "f", "hostPath": {"path": str(f), "type": "FileOrCreate"}}),
                         str(tmp_path / "pod"), Sources())
    assert d.is_dir() and f.is_file() and prep.paths == {"d": str(d), "f": str(f)}


def test_container_mounts_read_only_and_sub_path(tmp_path: Path) -> None:
    pod = _pod({"name": "work", "emptyDir": {}}, {"name": "cm", "configMap": {"name": "cm"}})
    prep = setup_volumes(pod, str(tmp_path), Sources({"cm": {"data": {"k": "v"}}}, {}))
    c = {"name": "c", "volumeMounts": [
        {"name": "work", "mountPath": "/w"},
        {"name": "work", "mountPath": "/ro", "readOnly": True},
        {"name": "work", "mountPath": "/sub", "subPath": "a/b"},
        {"name": "cm", "mountPath": "/cm"},
        {"name": "cm", "mountPath": "/etc/k", "subPath": "k"}]}
    ms = {m.container_path: m for m in container_mounts(pod, c, prep)}
    assert not ms["/w"].readonly and ms["/ro"].readonly and ms["/cm"].readonly
    assert ms["/sub"].host_path == os.path.realpath(os.path.join(prep.paths["work"], "a/b"))
    assert os.path.isdir(ms["/sub"].host_path)
    assert _read(Path(ms["/etc/k"].host_path)) == "v"
    with pytest.raises(VolumeError):
        container_mounts(pod, {"name": "c", "volumeMounts": [{"name": "work", "mountPath": "/x",
                                                              "subPath": "../../etc"}]}, prep)


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfs needs root")
def test_memory_empty_dir_is_a_sized_tmpfs(tmp_path: Path) -> None:
    pod = _pod({"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
    prep = setup_volumes(pod, str(tmp_path), Sources(), tmpfs_name="mizzen-test-volume")
    path = prep.paths["m"]
    try:
        line = next(x for x in Path("/proc/mounts").read_text().splitlines() if x.split()[1] == path)
        assert line.split()[0] == "mizzen-test-volume" and line.split()[2] == "tmpfs" and "size=1024k" in line
        setup_volumes(pod, str(tmp_path), Sources(), tmpfs_name="mizzen-test-volume")   # idempotent
        assert sum(1 for x in Path("/proc/mounts").read_text().splitlines() if x.split()[1] == path) == 1
    finally:
        for mp in linux.mounts_under(str(tmp_path)):
            linux.umount2(mp, linux.MNT_DETACH)
    assert path not in Path("/proc/mounts").read_text()
    assert volumes.volume_dir(str(tmp_path), {"name": "m", "emptyDir": {}}) == path


# ------------------------------------------------------------------ service account tokens


@pytest.mark.parametrize(("expires_at", "ttl", "now", "jitter", "due"), [
    (3607, 3607, 2885, 0, False),      # 80 % of 3607 s is 2885.6 s
    (3607, 3607, 2886, 0, True),
    (3607, 3607, 2880, 10, True),      # the jitter brings it forward
    (3607, 3607, 100, 0, False),
    (172800, 172800, 86399, 0, False),  # a 48 h token: renewed at 24 h, before 80 %
    (172800, 172800, 86401, 0, True),
    (600, 600, 481, 0, True),
])
def test_needs_refresh(expires_at: float, ttl: float, now: float, jitter: float, due: bool) -> None:
    assert volumes.needs_refresh(expires_at, ttl, now, jitter) is due


TOKEN_POD = {"metadata": {"name": "web", "namespace": "team", "uid": "pod-uid"},
             "spec": {"serviceAccountName": "builder", "volumes": [
                 {"name": "kube-api-access-abcde", "projected": {"sources": [
                     {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                     {"serviceAccountToken": {"audience": "vault", "path": "vault-token"}}]}}]}}


def test_token_request_body() -> None:
    (_, first), (_, second) = volumes.token_sources(TOKEN_POD)
    bound = {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "pod-uid"}
    assert volumes.token_request(TOKEN_POD, first) == {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3607, "boundObjectRef": bound}}  # no audience: the API server's own
    assert volumes.token_request(TOKEN_POD, second)["spec"] == {"expirationSeconds": 3600, "boundObjectRef": bound,
                                                                "audiences": ["vault"]}


class FakeTokenAPI:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None, str | None, dict]] = []
        self.fail: Exception | None = None
        self.now = 1_800_000_000.0

    async def create(self, res: str, obj: dict, namespace: str | None = None, *, subresource: str | None = None,
                     name: str | None = None) -> dict:
        import datetime as dt
        self.requests.append((f"{res}/{subresource}", namespace, name, obj))
        if self.fail is not None:
            raise self.fail
        exp = dt.datetime.fromtimestamp(self.now + obj["spec"]["expirationSeconds"], dt.UTC)
        return {"status": {"token": f"token-{len(self.requests)}", "expirationTimestamp": exp.strftime(
            "%Y-%m-%dT%H:%M:%SZ")}}


async def test_tokens_are_kept_then_renewed() -> None:
    api = FakeTokenAPI()
    tokens = volumes.ServiceAccountTokens(clock=lambda: api.now, jitter=lambda: 0.0)
    got = await tokens.fetch(api, TOKEN_POD)
    assert got == {("kube-api-access-abcde", "token"): "token-1", ("kube-api-access-abcde", "vault-token"): "token-2"}
    assert [r[:3] for r in api.requests] == [("serviceaccounts/token", "team", "builder")] * 2
    api.now += 2000  # not yet 80 % of either lifetime
    assert await tokens.fetch(api, TOKEN_POD) == got and len(api.requests) == 2
    api.now += 900  # past 80 % of 3600 s (2880 s) and of 3607 s (2885.6 s)
    renewed = await tokens.fetch(api, TOKEN_POD)
    assert renewed == {("kube-api-access-abcde", "token"): "token-3",
                       ("kube-api-access-abcde", "vault-token"): "token-4"}


async def test_token_errors_are_failed_mounts() -> None:
    from apimachinery.errors import NotFound
    api = FakeTokenAPI()
    api.fail = NotFound("serviceaccounts", "builder")
    tokens = volumes.ServiceAccountTokens(clock=lambda: api.now, jitter=lambda: 0.0)
    with pytest.raises(VolumeError) as e:
        await tokens.fetch(api, TOKEN_POD)
    assert str(e.value) == ('MountVolume.SetUp failed for volume "kube-api-access-abcde" : failed to fetch token: '
                            'serviceaccounts "builder" not found')
    # a failed renewal keeps the current token while it is valid, then fails
    api.fail = None
    got = await tokens.fetch(api, TOKEN_POD)
    api.fail = NotFound("serviceaccounts", "builder")
    api.now += 3000
    assert await tokens.fetch(api, TOKEN_POD) == got
    api.now += 700
    with pytest.raises(VolumeError, match="token team/builder expired and refresh failed"):
        await tokens.fetch(api, TOKEN_POD)
