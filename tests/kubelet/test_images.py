"""The local image store: references, docker-save and OCI imports (whiteouts included), layer
sharing and garbage collection, the built-in busybox image, and a container run from an
imported image."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import stat
import tarfile

import pytest

from kubelet.images import ImageError, ImageStore, InvalidReference, normalize
from kubelet.images.busybox import build_layer
from mizzen.testing import docker_save_archive
from mizzen.testing import tar_bytes as _tar

root = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts (mknod, trusted.* xattrs) need root")


@pytest.mark.parametrize(("ref", "expected"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
    ("user/app", "docker.io/user/app:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/team/app:v2", "localhost:5000/team/app:v2"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
    ("busybox:1.36@sha256:" + "b" * 64, "docker.io/library/busybox:1.36@sha256:" + "b" * 64),
])
def test_normalize(ref: str, expected: str) -> None:
    assert normalize(ref) == expected


@pytest.mark.parametrize("ref", ["", "Busybox", "busybox:", "a b", "busybox@sha256:xyz", ":tag", "foo//bar"])
def test_normalize_rejects(ref: str) -> None:
    with pytest.raises(InvalidReference):
        normalize(ref)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


APP_LAYERS = [
    _tar([("data", None, 0o755), ("data/keep", b"kept\n", 0o644), ("data/gone", b"x", 0o644),
          ("opq", None, 0o755), ("opq/a", b"a", 0o644)]),
    _tar([("data/.wh.gone", b"", 0o644), ("opq/.wh..wh..opq", b"", 0o644), ("opq/b", b"b", 0o644)]),
]


@pytest.fixture(scope="module")
def busybox_layer() -> bytes:
    return build_layer()


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(str(tmp_path / "images"))


@root
def test_import_docker_save_with_whiteouts(store: ImageStore, tmp_path, busybox_layer: bytes) -> None:
    archive = str(tmp_path / "app.tar")
    image_id = docker_save_archive(archive, "example.com/test/app:v1", [busybox_layer, *APP_LAYERS])
    (img,) = store.import_archive(archive)
    assert img.id == image_id
    assert img.repo_tags == ["example.com/test/app:v1"]
    assert store.resolve("example.com/test/app:v1") == img
    assert store.resolve(image_id[7:19]) == img            # short ID, as docker prints it
    assert img.config.cmd == ["sh", "-c", "echo $GREETING; ls /data; ls /opq; pwd"]
    assert img.config.working_dir == "/data"
    assert "GREETING=hello" in img.config.env
    assert img.config.exposed_ports == ["8080/tcp"]
    assert len(img.layers) == 3 and img.lowerdirs[0] == img.layers[2]
    top = img.layers[2]
    gone = os.lstat(os.path.join(top, "data", "gone"))
    assert stat.S_ISCHR(gone.st_mode) and os.major(gone.st_rdev) == 0 and os.minor(gone.st_rdev) == 0
    assert os.getxattr(os.path.join(top, "opq"), "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(os.path.join(top, "data", ".wh.gone"))
    assert os.path.islink(os.path.join(img.layers[0], "bin", "sh"))


@root
def test_layers_are_shared_and_collected(store: ImageStore, tmp_path, busybox_layer: bytes) -> None:
    a, b = str(tmp_path / "a.tar"), str(tmp_path / "b.tar")
    docker_save_archive(a, "app:a", [busybox_layer, APP_LAYERS[0]])
    docker_save_archive(b, "app:b", [busybox_layer], {"Cmd": ["true"]})
    (ia,) = store.import_archive(a)
    (ib,) = store.import_archive(b)
    assert ia.layers[0] == ib.layers[0]                     # unpacked once
    layer_root = os.path.join(store.root, "layers", "sha256")
    assert len(os.listdir(layer_root)) == 2
    assert store.remove("app:a") == ["docker.io/library/app:a", ia.id]
    assert store.resolve("app:a") is None
    assert len(os.listdir(layer_root)) == 1 and os.path.isdir(ib.layers[0])
    with pytest.raises(ImageError):
        store.remove("app:a")
    assert [i.id for i in store.list()] == [ib.id]


@root
def test_import_oci_layout_gzip_and_nested_index(store: ImageStore, tmp_path) -> None:
    layer = _tar([("hello.txt", b"hi\n", 0o644)])
    gz = gzip.compress(layer)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Entrypoint": ["/hello"], "User": "1000:1000"},
                         "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": _sha(gz), "size": len(gz)}]}).encode()
    inner = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                       "digest": _sha(manifest), "size": len(manifest),
                                       "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": _sha(inner), "size": len(inner),
        "annotations": {"io.containerd.image.name": "registry.example/hello:1.0"}}]}
    members: list[tuple[str, bytes | None, int]] = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644),
                                                    ("index.json", json.dumps(index).encode(), 0o644),
                                                    ("blobs", None, 0o755), ("blobs/sha256", None, 0o755)]
    for blob in (config, manifest, inner, gz):
        members.append((f"blobs/sha256/{_sha(blob)[7:]}", blob, 0o644))
    archive = tmp_path / "oci.tar"
    archive.write_bytes(_tar(members))
    (img,) = store.import_archive(str(archive))
    assert img.repo_tags == ["registry.example/hello:1.0"]
    assert img.repo_digests == [f"registry.example/hello@{_sha(manifest)}"]
    assert store.resolve(f"registry.example/hello@{_sha(manifest)}") == img
    assert img.config.entrypoint == ["/hello"] and img.config.user == "1000:1000"
    assert open(os.path.join(img.layers[0], "hello.txt")).read() == "hi\n"


@root
def test_garbage_collect_keeps_used_and_named(store: ImageStore, tmp_path, busybox_layer: bytes) -> None:
    bb = store.ensure_busybox()
    a, b = str(tmp_path / "a.tar"), str(tmp_path / "b.tar")
    docker_save_archive(a, "app:a", [busybox_layer, APP_LAYERS[0]])
    docker_save_archive(b, "app:b", [_tar([("only-b", b"b", 0o644)])], {"Cmd": ["true"]})
    (ia,) = store.import_archive(a)
    (ib,) = store.import_archive(b)
    assert store.garbage_collect(in_use={ia.id}, keep_refs=["busybox"]) == [ib.id]
    assert {i.id for i in store.list()} == {ia.id, bb.id}
    assert not os.path.exists(ib.layers[0]) and os.path.isdir(ia.layers[1])


@root
def test_lookup_user_from_image_files(store: ImageStore, tmp_path, busybox_layer: bytes) -> None:
    extra = _tar([("etc", None, 0o755),
                  ("etc/passwd", b"root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n", 0o644),
                  ("etc/group", b"root:x:0:\nstaff:x:50:\n", 0o644)])
    path = str(tmp_path / "u.tar")
    docker_save_archive(path, "users:1", [busybox_layer, extra])
    (img,) = store.import_archive(path)
    cases = [("", (0, 0)), ("app", (1000, 1001)), ("1000", (1000, 1001)), ("4242", (4242, 0)),
             ("app:staff", (1000, 50)), ("app:7", (1000, 7)), ("0:0", (0, 0))]
    for user, expected in cases:
        assert img.lookup_user(user) == expected, user
    with pytest.raises(ImageError, match="unable to find user ghost"):
        img.lookup_user("ghost")
    with pytest.raises(ImageError, match="unable to find group nogroup"):
        img.lookup_user("app:nogroup")
    assert store.ensure_busybox().lookup_user("nobody") == (65534, 65534)


@root
@pytest.mark.root
async def test_image_user_is_honoured(tmp_path, busybox_layer: bytes) -> None:
    from kubelet.runtime import ContainerSpec, CreateContainerError, Runtime, SecurityContext

    rt = Runtime(str(tmp_path / "node"), name=f"mizzen-test-{secrets.token_hex(4)}")
    try:
        extra = _tar([("etc", None, 0o755), ("etc/passwd", b"app:x:1000:1001::/:/bin/sh\n", 0o644)])
        for tag, user in (("users:app", "app"), ("users:ghost", "ghost")):
            path = str(tmp_path / f"{user}.tar")
            docker_save_archive(path, tag, [busybox_layer, extra], {"User": user, "Cmd": ["sh", "-c", "id -u; id -g"]})
            rt.images.import_archive(path)
        await rt.start()

        def c(image: str, **sec) -> ContainerSpec:
            name = image.replace(":", "-") + "".join(f"-{v}" for v in sec.values())
            return ContainerSpec(pod_uid="u", pod_name="p", namespace="d", name=name, image=image,
                                 command=["sh", "-c", "id -u; id -g"], security=SecurityContext(**sec))

        h = await rt.start_container(c("users:app"))
        await rt.wait_container(h.id, 30)
        assert [ln.split(" ", 3)[3] for ln in _read(h.log_path).splitlines()] == ["1000", "1001"]
        h = await rt.start_container(c("users:app", run_as_user=0))
        await rt.wait_container(h.id, 30)
        assert [ln.split(" ", 3)[3] for ln in _read(h.log_path).splitlines()] == ["0", "0"]
        with pytest.raises(CreateContainerError, match="unable to find user ghost"):
            await rt.start_container(c("users:ghost"))
    finally:
        await rt.cleanup_all()
        await rt.close()
    assert not rt.cgroups.exists("")


def test_rejects_bad_archives(store: ImageStore, tmp_path) -> None:
    layer = _tar([("f", b"x", 0o644)])
    bad_id = str(tmp_path / "bad-diffid.tar")
    docker_save_archive(bad_id, "bad:1", [layer])
    # corrupt the diff-id in the config
    with tarfile.open(bad_id) as t:
        members = {m.name: t.extractfile(m).read() if m.isfile() else None for m in t.getmembers()}
    cfg_name = next(n for n in members if n.endswith(".json") and n != "manifest.json")
    cfg = json.loads(members[cfg_name])
    cfg["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
    members[cfg_name] = json.dumps(cfg).encode()
    (tmp_path / "bad2.tar").write_bytes(_tar([(n, d, 0o755 if d is None else 0o644) for n, d in members.items()]))
    with pytest.raises(ImageError, match="diff-id mismatch"):
        store.import_archive(str(tmp_path / "bad2.tar"))
    escape = str(tmp_path / "escape.tar")
    docker_save_archive(escape, "evil:1", [_tar([("../../outside", b"x", 0o644)])])
    with pytest.raises(ImageError, match="escapes"):
        store.import_archive(escape)
    corrupt = str(tmp_path / "corrupt.tar")
    docker_save_archive(corrupt, "corrupt:1", [b"\x1f\x8b" + b"not really gzip" * 10])
    with pytest.raises(ImageError, match="corrupt layer"):
        store.import_archive(corrupt)
    (tmp_path / "junk.tar").write_bytes(_tar([("x", b"y", 0o644)]))
    with pytest.raises(ImageError, match="neither"):
        store.import_archive(str(tmp_path / "junk.tar"))
    assert store.list() == []
    assert os.listdir(os.path.join(store.root, "tmp")) == []


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static")
def test_busybox_image(store: ImageStore) -> None:
    img = store.ensure_busybox()
    assert "docker.io/library/busybox:latest" in img.repo_tags
    assert any(t.rsplit(":", 1)[1].count(".") == 1 for t in img.repo_tags)  # e.g. busybox:1.36
    assert img.config.cmd == ["sh"]
    fs = img.layers[0]
    assert os.readlink(os.path.join(fs, "bin", "sh")) == "/bin/busybox"
    assert "nobody:x:65534" in open(os.path.join(fs, "etc", "passwd")).read()
    assert os.stat(os.path.join(fs, "tmp")).st_mode & 0o7777 == 0o1777
    assert store.ensure_busybox() == img
    assert store.resolve("busybox") == img
    # the same binary always gives the same image
    other = ImageStore(os.path.join(store.root, "other"))
    assert other.ensure_busybox().id == img.id


@root
@pytest.mark.root
async def test_container_runs_from_imported_image(tmp_path, busybox_layer: bytes) -> None:
    from kubelet.runtime import ContainerSpec, Runtime, merge_image_config

    rt = Runtime(str(tmp_path / "node"), name=f"mizzen-test-{secrets.token_hex(4)}")
    try:
        archive = str(tmp_path / "app.tar")
        docker_save_archive(archive, "example.com/test/app:v1", [busybox_layer, *APP_LAYERS])
        (img,) = rt.images.import_archive(archive)
        await rt.start()
        h = await rt.start_container(ContainerSpec(
            pod_uid="u-img", pod_name="app", namespace="default", name="app", image="example.com/test/app:v1",
            command=merge_image_config(img, None, None), env=img.config.env, working_dir=img.config.working_dir))
        st = await rt.wait_container(h.id, 30)
        assert (st.state, st.exit_code, st.image_id) == ("exited", 0, img.id)
        lines = [ln.split(" ", 3)[3] for ln in _read(h.log_path).splitlines()]
        assert lines == ["hello", "keep", "b", "/data"]
    finally:
        await rt.cleanup_all()
        await rt.close()
    assert not rt.cgroups.exists("")


def test_image_table_like_crictl() -> None:
    from kubelet.images.store import Image, ImageConfig
    from kubelet.images.table import format_images, human_size

    assert [human_size(n) for n in (0, 999, 1000, 1985561, 4_300_000_000)] == ["0B", "999B", "1kB", "1.99MB", "4.3GB"]
    img = Image(id="sha256:" + "ab" * 32, repo_tags=["docker.io/library/busybox:latest", "docker.io/library/busybox:1.36"],
                repo_digests=[], layers=[], diff_ids=[], config=ImageConfig(), size=1985561)
    bare = Image(id="sha256:" + "cd" * 32, repo_tags=[], repo_digests=[], layers=[], diff_ids=[],
                 config=ImageConfig(), size=10)
    assert format_images([img, bare]).splitlines() == [
        "IMAGE                       TAG      IMAGE ID        SIZE",
        "<none>                      <none>   cdcdcdcdcdcdc   10B",
        "docker.io/library/busybox   1.36     ababababababa   1.99MB",
        "docker.io/library/busybox   latest   ababababababa   1.99MB",
    ]


def test_resolve_follows_index_changes(store: ImageStore, tmp_path, busybox_layer: bytes) -> None:
    """resolve() answers from memory only while the index is unchanged."""
    a = str(tmp_path / "a.tar")
    docker_save_archive(a, "app:v", [busybox_layer])
    (first,) = store.import_archive(a)
    assert store.resolve("app:v").id == first.id and store.resolved("app:v").id == first.id  # type: ignore[union-attr]
    b = str(tmp_path / "b.tar")
    docker_save_archive(b, "app:v", [busybox_layer], {"Cmd": ["true"]})
    (second,) = store.import_archive(b)                      # the same tag, another image
    assert store.resolved("app:v") is None                   # never the stale answer
    assert second.id != first.id and store.resolve("app:v").id == second.id  # type: ignore[union-attr]
    store.remove("app:v")
    assert store.resolve("app:v") is None and store.resolved("app:v") is None
