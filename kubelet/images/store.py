"""A content-addressed local image store: OCI / docker-save import, layers unpacked once.

Why: pods need root filesystems without a registry.  Images are imported from archives
(``mizzen image import``) or built locally (the ``busybox`` image), their blobs kept under
``blobs/sha256/<hex>``, and each layer unpacked once under ``layers/sha256/<diff-id>/fs``,
ready to be an overlayfs lower directory shared by every container using it.  Whiteouts are
converted to overlayfs' own form (a 0:0 character device for a deleted file, the
``trusted.overlay.opaque`` xattr for an opaque directory) at unpack time.

Layout of the data dir::

    blobs/sha256/<hex>           image configs and manifests, named by their digest
    layers/sha256/<hex>/fs       unpacked layer, named by its diff-id
    index.json                   {"images": {id: record}, "refs": {normalised ref: id}}

What it must never do: write outside its data dir (archive members are checked before they
are extracted), leave a half-unpacked layer where a complete one is expected (unpack into a
temporary dir, then rename), or delete a layer an image still uses.  Blocking: every method
does file I/O; callers on an event loop run them in a thread.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from kubelet.images import refs

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"


class ImageError(Exception):
    """An archive cannot be imported or an image cannot be found."""


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    working_dir: str = ""
    env: list[str] = field(default_factory=list)
    user: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Image:
    id: str                    # "sha256:<config digest>" (docker's image ID, CRI imageRef)
    repo_tags: list[str]
    repo_digests: list[str]
    layers: list[str]          # unpacked layer dirs, bottom first
    diff_ids: list[str]
    config: ImageConfig
    size: int
    created: str = ""

    @property
    def lowerdirs(self) -> list[str]:
        """Overlayfs lowerdir order: topmost layer first."""
        return list(reversed(self.layers))

    def find_file(self, path: str) -> str | None:
        """The host path of ``path`` as the container will see it (topmost layer wins; a
        whiteout or an opaque directory hides lower layers)."""
        rel = path.strip("/")
        for layer in self.lowerdirs:
            cand = os.path.join(layer, rel)
            if os.path.lexists(cand):
                st = os.lstat(cand)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    return None
                return cand
            parent = os.path.dirname(cand)
            with contextlib.suppress(OSError):
                if os.getxattr(parent, "trusted.overlay.opaque") == b"y":
                    return None
        return None

    def home_dir(self, uid: int) -> str:
        """The home directory of ``uid`` in the image's /etc/passwd (``/`` when unknown)."""
        f = self.find_file("/etc/passwd")
        if f is None:
            return "/"
        with open(f) as fh:
            for line in fh:
                p = line.rstrip("\n").split(":")
                if len(p) > 5 and p[2] == str(uid):
                    return p[5] or "/"
        return "/"

    def lookup_user(self, user: str) -> tuple[int, int]:
        """Image ``User`` (``name``, ``uid``, ``name:group``, ``uid:gid``) -> (uid, gid), read
        from the image's own /etc/passwd and /etc/group, as runc does.  Raises ``ImageError``
        for an unknown name (Kubernetes: CreateContainerError)."""
        if not user:
            return 0, 0
        name, _, group = user.partition(":")

        def table(path: str) -> list[list[str]]:
            f = self.find_file(path)
            if f is None:
                return []
            with open(f) as fh:
                return [ln.split(":") for ln in fh.read().splitlines() if ln and not ln.startswith("#")]

        passwd = table("/etc/passwd")
        if name.isdigit():
            uid = int(name)
            gid = next((int(p[3]) for p in passwd if len(p) > 3 and p[2] == name), 0)
        else:
            row = next((p for p in passwd if p[0] == name and len(p) > 3), None)
            if row is None:
                raise ImageError(f"unable to find user {name}: no matching entries in passwd file")
            uid, gid = int(row[2]), int(row[3])
        if group:
            if group.isdigit():
                gid = int(group)
            else:
                grow = next((g for g in table("/etc/group") if g[0] == group and len(g) > 2), None)
                if grow is None:
                    raise ImageError(f"unable to find group {group}: no matching entries in group file")
                gid = int(grow[2])
        return uid, gid


class ImageStore:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(os.path.join(self.root, "blobs", "sha256"), exist_ok=True)
        os.makedirs(os.path.join(self.root, "layers", "sha256"), exist_ok=True)
        os.makedirs(os.path.join(self.root, "tmp"), exist_ok=True)
        # resolve() answers from memory while index.json is unchanged (same inode, mtime and
        # size: every write replaces the file): a burst of pod starts reads it once
        self._resolved: dict[str, Image | None] = {}
        self._resolved_key: tuple[int, int, int] | None = None

    # ---- index ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Exclusive access to the index (across processes), saved atomically on success."""
        with open(os.path.join(self.root, "lock"), "a+") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            index = self._read_index()
            yield index
            self._write_json(os.path.join(self.root, "index.json"), index)

    def _read_index(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.root, "index.json")) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        data.setdefault("images", {})
        data.setdefault("refs", {})
        return data

    @staticmethod
    def _write_json(path: str, data: Any) -> None:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)

    # ---- blobs and layers ----------------------------------------------------------------

    def blob_path(self, digest: str) -> str:
        algo, _, hexd = digest.partition(":")
        return os.path.join(self.root, "blobs", algo, hexd)

    def _put_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not os.path.exists(path):
            tmp = path + f".{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return digest

    def layer_dir(self, diff_id: str) -> str:
        algo, _, hexd = diff_id.partition(":")
        return os.path.join(self.root, "layers", algo, hexd, "fs")

    def _add_layer(self, fileobj: IO[bytes], expected_diff_id: str | None) -> str:
        """Unpack one layer (tar, gzip-compressed or not); return its diff-id.

        The uncompressed stream is hashed while it is unpacked; a layer whose diff-id is
        already present is not unpacked again."""
        if expected_diff_id and os.path.isdir(self.layer_dir(expected_diff_id)):
            return expected_diff_id
        head = fileobj.read(4)
        fileobj.seek(0)
        if head == b"\x28\xb5\x2f\xfd":
            raise ImageError("zstd-compressed layers are not supported: re-export the image with gzip or "
                             "uncompressed layers (e.g. docker save)")
        stream: Any = gzip.GzipFile(fileobj=fileobj) if head[:2] == b"\x1f\x8b" else fileobj
        hasher = _HashingReader(stream)
        tmpdir = tempfile.mkdtemp(prefix="layer-", dir=os.path.join(self.root, "tmp"))
        try:
            fs = os.path.join(tmpdir, "fs")
            os.mkdir(fs, 0o755)
            try:
                with tarfile.open(fileobj=hasher, mode="r|") as tar:
                    unpack_layer(tar, fs)
                hasher.drain()
            except (tarfile.TarError, EOFError, gzip.BadGzipFile) as exc:
                raise ImageError(f"corrupt layer: {exc}") from exc
            diff_id = "sha256:" + hasher.hexdigest()
            if expected_diff_id and diff_id != expected_diff_id:
                raise ImageError(f"layer diff-id mismatch: got {diff_id}, config says {expected_diff_id}")
            final = os.path.dirname(self.layer_dir(diff_id))
            if os.path.isdir(final):
                return diff_id
            try:
                os.rename(tmpdir, final)
                tmpdir = ""
            except OSError:
                if not os.path.isdir(final):  # else another import unpacked it meanwhile
                    raise
            return diff_id
        finally:
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)

    # ---- import --------------------------------------------------------------------------

    def import_archive(self, path: str) -> builtins.list[Image]:
        """Import an OCI image layout tar or a ``docker save`` tarball; returns its images.

        Tags come from ``manifest.json``'s ``RepoTags`` (docker) or from the
        ``io.containerd.image.name`` / ``org.opencontainers.image.ref.name`` annotations (OCI).
        """
        work = tempfile.mkdtemp(prefix="import-", dir=os.path.join(self.root, "tmp"))
        try:
            try:
                with tarfile.open(path, "r:*") as tar:
                    for m in tar:
                        if m.isfile() or m.isdir():
                            _check_member_name(m.name)
                            tar.extract(m, work, set_attrs=False, filter="fully_trusted")
            except (tarfile.TarError, OSError) as exc:
                raise ImageError(f"cannot read image archive {path}: {exc}") from exc
            if os.path.exists(os.path.join(work, "manifest.json")):
                return self._import_docker(work)
            if os.path.exists(os.path.join(work, "index.json")):
                return self._import_oci(work)
            raise ImageError(f"{path}: neither a docker-save archive (manifest.json) "
                             "nor an OCI image layout (index.json)")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _import_docker(self, work: str) -> builtins.list[Image]:
        with open(os.path.join(work, "manifest.json")) as f:
            entries = json.load(f)
        out = []
        for entry in entries:
            with open(os.path.join(work, entry["Config"]), "rb") as f:
                config_bytes = f.read()
            layer_files = [os.path.join(work, x) for x in entry.get("Layers") or []]
            tags = [refs.normalize(t) for t in entry.get("RepoTags") or []]
            out.append(self._import_image(config_bytes, layer_files, tags, manifest_digest=None))
        return out

    def _import_oci(self, work: str) -> builtins.list[Image]:
        def blob(digest: str) -> str:
            algo, _, hexd = digest.partition(":")
            return os.path.join(work, "blobs", algo, hexd)

        with open(os.path.join(work, "index.json")) as fi:
            index = json.load(fi)
        out = []
        pending = [(d, d.get("annotations") or {}) for d in index.get("manifests") or []]
        while pending:
            desc, ann = pending.pop(0)
            with open(blob(desc["digest"]), "rb") as f:
                raw = f.read()
            doc = json.loads(raw)
            mt = desc.get("mediaType") or doc.get("mediaType", "")
            if "index" in mt or "manifest.list" in mt or "manifests" in doc:
                for sub in doc.get("manifests") or []:
                    plat = sub.get("platform") or {}
                    if plat and (plat.get("os") != "linux" or plat.get("architecture") not in ("amd64", None)):
                        continue
                    pending.append((sub, {**ann, **(sub.get("annotations") or {})}))
                continue
            with open(blob(doc["config"]["digest"]), "rb") as f:
                config_bytes = f.read()
            layer_files = [blob(layer["digest"]) for layer in doc.get("layers") or []]
            name = ann.get("io.containerd.image.name") or ann.get("org.opencontainers.image.ref.name")
            tags = []
            if name:
                with contextlib.suppress(refs.InvalidReference):
                    tags.append(refs.normalize(name))
            self._put_blob(raw)
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            out.append(self._import_image(config_bytes, layer_files, tags, manifest_digest=digest))
        return out

    def _import_image(self, config_bytes: bytes, layer_files: list[str], tags: list[str],
                      manifest_digest: str | None) -> Image:
        config = json.loads(config_bytes)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if diff_ids and len(diff_ids) != len(layer_files):
            raise ImageError(f"image config lists {len(diff_ids)} layers, archive has {len(layer_files)}")
        got = []
        for i, lf in enumerate(layer_files):
            with open(lf, "rb") as f:
                got.append(self._add_layer(f, diff_ids[i] if diff_ids else None))
        image_id = self._put_blob(config_bytes)
        return self._record(image_id, got, tags, manifest_digest)

    def _record(self, image_id: str, diff_ids: list[str], tags: list[str],
                manifest_digest: str | None) -> Image:
        with self._locked() as index:
            rec = index["images"].setdefault(image_id, {"diff_ids": diff_ids, "repo_digests": [],
                                                         "imported": time.time()})
            rec["diff_ids"] = diff_ids
            rec["size"] = sum(_du(self.layer_dir(d)) for d in diff_ids)
            for t in tags:
                index["refs"][t] = image_id
                if manifest_digest:
                    rd = f"{refs.parse(t).name}@{manifest_digest}"
                    if rd not in rec["repo_digests"]:
                        rec["repo_digests"].append(rd)
        img = self.resolve(image_id)
        assert img is not None
        return img

    def add_image(self, config: dict[str, Any], layer_tars: list[bytes], tags: list[str]) -> Image:
        """Store an image built in memory (layers as uncompressed tar bytes); the config's
        ``rootfs.diff_ids`` are filled in."""
        diff_ids = [self._add_layer(io.BytesIO(data), None) for data in layer_tars]
        config = {**config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image_id = self._put_blob(config_bytes)
        return self._record(image_id, diff_ids, [refs.normalize(t) for t in tags], None)

    # ---- queries -------------------------------------------------------------------------

    def _load(self, image_id: str, index: dict[str, Any]) -> Image | None:
        rec = index["images"].get(image_id)
        if rec is None:
            return None
        try:
            with open(self.blob_path(image_id)) as f:
                cfg = json.load(f)
        except FileNotFoundError:
            return None
        c = cfg.get("config") or {}
        layers = [self.layer_dir(d) for d in rec["diff_ids"]]
        return Image(
            id=image_id,
            repo_tags=sorted(r for r, i in index["refs"].items() if i == image_id),
            repo_digests=list(rec.get("repo_digests") or []),
            layers=layers,
            diff_ids=list(rec["diff_ids"]),
            config=ImageConfig(
                entrypoint=c.get("Entrypoint"), cmd=c.get("Cmd"),
                working_dir=c.get("WorkingDir") or "", env=list(c.get("Env") or []),
                user=c.get("User") or "", exposed_ports=sorted((c.get("ExposedPorts") or {}).keys()),
                labels=dict(c.get("Labels") or {}),
            ),
            size=rec.get("size") or sum(_du(d) for d in layers if os.path.isdir(d)),
            created=cfg.get("created") or "",
        )

    def resolve(self, ref: str) -> Image | None:
        """The image a reference names: a tag (normalised), a repo digest, a full image ID
        (``sha256:...``) or a unique ID prefix of at least 12 hex digits."""
        key = self._index_key()
        if key is not None and key == self._resolved_key and ref in self._resolved:
            return self._resolved[ref]
        index = self._read_index()
        image_id = self._find_id(ref, index)
        image = self._load(image_id, index) if image_id else None
        if key != self._resolved_key:
            self._resolved = {}
            self._resolved_key = key
        if image is not None or key is not None:
            self._resolved[ref] = image
        return image

    def resolved(self, ref: str) -> Image | None:
        """What ``resolve(ref)`` answered, if the index has not changed since (one ``stat``, no
        read: cheap enough for an event loop); None when not known."""
        key = self._index_key()
        return self._resolved.get(ref) if key is not None and key == self._resolved_key else None

    def _index_key(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(os.path.join(self.root, "index.json"))
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _find_id(self, ref: str, index: dict[str, Any]) -> str | None:
        if ref.startswith("sha256:") and ref in index["images"]:
            return ref
        hexpart = ref.removeprefix("sha256:")
        if len(hexpart) >= 12 and all(ch in "0123456789abcdef" for ch in hexpart):
            hits = [i for i in index["images"] if i.removeprefix("sha256:").startswith(hexpart)]
            if len(hits) == 1:
                return hits[0]
        try:
            r = refs.parse(ref)
        except refs.InvalidReference:
            return None
        if r.digest:
            for image_id, rec in index["images"].items():
                if f"{r.name}@{r.digest}" in (rec.get("repo_digests") or []):
                    return image_id
            if r.tag is None:
                return None
        return index["refs"].get(f"{r.name}:{r.tag}")

    def list(self) -> builtins.list[Image]:
        index = self._read_index()
        out = [self._load(i, index) for i in sorted(index["images"])]
        return [i for i in out if i is not None]

    def remove(self, ref: str) -> builtins.list[str]:
        """Untag ``ref``; delete the image when no tag is left (or when ``ref`` is its ID),
        and every layer no remaining image uses.  Returns the removed tags and image IDs
        (docker's ``Untagged:``/``Deleted:`` lines)."""
        removed: list[str] = []
        with self._locked() as index:
            image_id = self._find_id(ref, index)
            if image_id is None:
                raise ImageError(f"image {ref!r} not found")
            by_id = ref.removeprefix("sha256:") in image_id
            for r in [r for r, i in index["refs"].items() if i == image_id]:
                if by_id or r == _normalize_or_none(ref):
                    del index["refs"][r]
                    removed.append(r)
            if not any(i == image_id for i in index["refs"].values()):
                del index["images"][image_id]
                removed.append(image_id)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.blob_path(image_id))
            used = {d for rec in index["images"].values() for d in rec["diff_ids"]}
        self._gc_layers(used)
        return removed

    def _gc_layers(self, used: set[str]) -> None:
        base = os.path.join(self.root, "layers", "sha256")
        for hexd in os.listdir(base):
            if f"sha256:{hexd}" not in used:
                remove_tree(os.path.join(base, hexd))

    def garbage_collect(self, in_use: set[str], keep_refs: Iterable[str] = ()) -> builtins.list[str]:
        """Remove every image whose ID is not in ``in_use`` (IDs of images that containers on
        this node use) and that no ref in ``keep_refs`` names, then unused layers.  When to
        run it (disk thresholds) is the kubelet's decision.  Returns the removed image IDs."""
        keep = {self._find_id(r, self._read_index()) for r in keep_refs} | set(in_use)
        removed = []
        with self._locked() as index:
            for image_id in list(index["images"]):
                if image_id in keep:
                    continue
                for r in [r for r, i in index["refs"].items() if i == image_id]:
                    del index["refs"][r]
                del index["images"][image_id]
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.blob_path(image_id))
                removed.append(image_id)
            used = {d for rec in index["images"].values() for d in rec["diff_ids"]}
        self._gc_layers(used)
        return removed

    def ensure_busybox(self) -> Image:
        """The built-in ``busybox`` image, built from the machine's busybox binary if absent."""
        from kubelet.images.busybox import ensure_busybox

        return ensure_busybox(self)


def _normalize_or_none(ref: str) -> str | None:
    try:
        return refs.normalize(ref)
    except refs.InvalidReference:
        return None


def remove_tree(path: str) -> None:
    """rmtree that also copes with read-only dirs inside a layer."""
    def onerror(func: Any, p: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o755)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o755)
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)

    shutil.rmtree(path, onerror=onerror)


def _du(path: str) -> int:
    total = 0
    for d, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(d, f)).st_size
    return total


class _HashingReader(io.RawIOBase):
    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.h = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.h.update(data)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.h.update(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def _check_member_name(name: str) -> str:
    norm = os.path.normpath(name.lstrip("/"))
    if norm == ".":
        return norm
    if norm.startswith("..") or os.path.isabs(norm):
        raise ImageError(f"archive member escapes its root: {name!r}")
    return norm


def unpack_layer(tar: tarfile.TarFile, dest: str) -> None:
    """Extract one layer into ``dest``, converting whiteouts for overlayfs.

    ``dir/.wh.name`` -> character device 0:0 at ``dir/name``; ``dir/.wh..wh..opq`` -> the
    ``trusted.overlay.opaque=y`` xattr on ``dir``.  Members are extracted one by one (the tar
    may be a stream), never through a symlink that leads outside ``dest``."""
    real_dest = os.path.realpath(dest)
    for m in tar:
        name = _check_member_name(m.name)
        if name == ".":
            continue
        parent, base = os.path.split(name)
        parent_abs = os.path.join(dest, parent)
        os.makedirs(parent_abs, exist_ok=True)
        if not (os.path.realpath(parent_abs) + "/").startswith(real_dest + "/") and \
                os.path.realpath(parent_abs) != real_dest:
            raise ImageError(f"archive member {m.name!r} would be written through a symlink "
                             "outside the layer")
        if base == OPAQUE_WHITEOUT:
            os.setxattr(parent_abs, "trusted.overlay.opaque", b"y")
            continue
        if base.startswith(WHITEOUT_PREFIX):
            target = os.path.join(parent_abs, base[len(WHITEOUT_PREFIX):])
            _remove_existing(target)
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            continue
        target = os.path.join(dest, name)
        if not m.isdir():
            _remove_existing(target)
        elif os.path.lexists(target) and not os.path.isdir(target):
            _remove_existing(target)
        if m.islnk():
            m = m.replace(linkname=_check_member_name(m.linkname), deep=False)
        tar.extract(m, dest, set_attrs=True, numeric_owner=True, filter="fully_trusted")


def _remove_existing(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        remove_tree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
