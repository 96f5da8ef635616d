"""Pod volumes on the node: emptyDir, hostPath, configMap, secret, downwardAPI, projected
(with its service account tokens).

Why it exists: a container's volume mounts are bind mounts of directories the kubelet
prepares under the pod's directory (``<data>/pods/<uid>/volumes/<plugin>/<name>``, the layout
Kubernetes uses). ConfigMap, Secret, downwardAPI and projected contents are written with
Kubernetes' AtomicWriter scheme: files live in a timestamped ``..<ts>`` directory, ``..data``
is a symlink to it swapped atomically with ``rename``, and each visible name is a symlink
through ``..data``. A container's bind mount of the volume directory therefore sees updates
(a new ``..data``) at once, and never a half-written file. Secret and projected volumes and
``emptyDir.medium: Memory`` are tmpfs mounts whose source is named ``mizzen-...``.

``serviceAccountToken`` projections hold real tokens: ``ServiceAccountTokens.fetch`` asks the
API server for one per source (TokenRequest bound to the pod, as the kubelet's token manager
does), keeps it, and asks again once 80 % of its lifetime or 24 h has passed
(``needs_refresh``); the pod worker hands the tokens to ``setup_volumes``.

Everything but ``ServiceAccountTokens.fetch`` (the only network I/O here) is blocking file
work: the pod worker calls it through ``asyncio.to_thread``. It must never mount or remove
anything outside the pod's own directory, except reading the hostPath a pod asked for (and
creating it for the ``...OrCreate`` types), and it never writes a fake service account
token: without a token from the API server a projection fails (FailedMount) and the pod
waits in ContainerCreating.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from apimachinery.timefmt import parse_time
from kubelet import envvars
from kubelet.runtime import Mount, linux
from kubelet.runtime.cgroups import bytes_of

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DATA_DIR_NAME = "..data"
DEFAULT_MODE = 0o644


class VolumeError(Exception):
    """A volume cannot be set up (FailedMount); the message is Kubernetes' wording."""


@dataclass
class PreparedVolumes:
    paths: dict[str, str] = field(default_factory=dict)     # volume name -> host path
    skipped: list[str] = field(default_factory=list)        # notes for the user (events)


def _plugin(vol: Obj) -> str:
    for key, plugin in (("emptyDir", "empty-dir"), ("configMap", "configmap"), ("secret", "secret"),
                        ("downwardAPI", "downward-api"), ("projected", "projected")):
        if key in vol:
            return plugin
    return "other"


def volume_dir(pod_dir: str, vol: Obj) -> str:
    return os.path.join(pod_dir, "volumes", f"kubernetes.io~{_plugin(vol)}", vol["name"])


# --------------------------------------------------------------------------- atomic writer


def write_atomic(target: str, payload: dict[str, tuple[bytes, int]]) -> bool:
    """Make ``target`` hold exactly ``payload`` (relative path -> (content, mode)) through
    the ``..data`` symlink swap; returns True when something changed."""
    os.makedirs(target, exist_ok=True)
    data_link = os.path.join(target, DATA_DIR_NAME)
    current = os.readlink(data_link) if os.path.islink(data_link) else None
    if current is not None and _same_payload(os.path.join(target, current), payload):
        return False
    ts = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{secrets.token_hex(4)}"
    new_dir = os.path.join(target, ts)
    os.mkdir(new_dir, 0o755)
    for rel, (content, mode) in payload.items():
        path = os.path.join(new_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, mode)
    tmp_link = os.path.join(target, "..data_tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp_link)
    os.symlink(ts, tmp_link)
    os.rename(tmp_link, data_link)
    top = {rel.split("/", 1)[0] for rel in payload}
    for name in top:
        link = os.path.join(target, name)
        if not os.path.islink(link):
            os.symlink(os.path.join(DATA_DIR_NAME, name), link)
    for name in os.listdir(target):
        path = os.path.join(target, name)
        if name.startswith(".."):
            if name not in (DATA_DIR_NAME, ts) and os.path.isdir(path) and not os.path.islink(path):
                _rmtree(path)
        elif name not in top and os.path.islink(path):
            os.unlink(path)
    return True


def _same_payload(d: str, payload: dict[str, tuple[bytes, int]]) -> bool:
    found: set[str] = set()
    for root, _dirs, files in os.walk(d):
        for f in files:
            found.add(os.path.relpath(os.path.join(root, f), d))
    if found != set(payload):
        return False
    for rel, (content, mode) in payload.items():
        path = os.path.join(d, rel)
        try:
            if stat.S_IMODE(os.stat(path).st_mode) != mode:
                return False
            with open(path, "rb") as fh:
                if fh.read() != content:
                    return False
        except OSError:
            return False
    return True


def _rmtree(path: str) -> None:
    for root, dirs, files in os.walk(path, topdown=False):
        for f in files:
            os.unlink(os.path.join(root, f))
        for d in dirs:
            p = os.path.join(root, d)
            if os.path.islink(p):
                os.unlink(p)
            else:
                os.rmdir(p)
    os.rmdir(path)


# --------------------------------------------------------------------------- payloads


def _items_payload(kind: str, name: str, obj: Obj | None, items: list[Obj] | None, default_mode: int,
                   optional: bool) -> dict[str, tuple[bytes, int]]:
    if obj is None:
        if optional:
            return {}
        raise VolumeError(f'{kind.lower()} "{name}" not found')
    data = envvars.object_bytes(kind, obj)
    out: dict[str, tuple[bytes, int]] = {}
    if items:
        for it in items:
            key = it.get("key", "")
            if key not in data:
                if optional:
                    continue
                raise VolumeError(f"{kind.lower()} references non-existent config key: {key}")
            out[_clean_rel(it.get("path") or key)] = (data[key], int(it.get("mode", default_mode)))
    else:
        for key, value in data.items():
            out[_clean_rel(key)] = (value, default_mode)
    return out


def _clean_rel(rel: str) -> str:
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p == ".." for p in parts) or parts[0].startswith(".."):
        raise VolumeError(f"invalid path {rel!r}")
    return "/".join(parts)


def downward_payload(pod: Obj, items: list[Obj], default_mode: int, host_ip: str, pod_ip: str,
                     node_allocatable: dict[str, str]) -> dict[str, tuple[bytes, int]]:
    out: dict[str, tuple[bytes, int]] = {}
    containers = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
    for it in items:
        if it.get("fieldRef"):
            try:
                value = envvars.field_ref(pod, it["fieldRef"].get("fieldPath", ""), host_ip=host_ip, pod_ip=pod_ip)
            except envvars.ConfigError as exc:
                raise VolumeError(str(exc)) from exc
        elif it.get("resourceFieldRef"):
            ref = it["resourceFieldRef"]
            c = containers.get(ref.get("containerName")) or {}
            value = envvars.resource_field_ref(c, ref, node_allocatable)
        else:
            continue
        out[_clean_rel(it.get("path", ""))] = (value.encode(), int(it.get("mode", default_mode)))
    return out


def projected_payload(pod: Obj, vol: Obj, sources: envvars.Sources, host_ip: str, pod_ip: str,
                      node_allocatable: dict[str, str], skipped: list[str],
                      tokens: Mapping[tuple[str, str], str] | None = None) -> dict[str, tuple[bytes, int]]:
    p = vol["projected"]
    mode = int(p.get("defaultMode", DEFAULT_MODE))
    out: dict[str, tuple[bytes, int]] = {}
    for s in p.get("sources") or []:
        if s.get("configMap"):
            ref = s["configMap"]
            out.update(_items_payload("ConfigMap", ref.get("name", ""), sources.configmaps.get(ref.get("name", "")),
                                      ref.get("items"), mode, bool(ref.get("optional"))))
        elif s.get("secret"):
            ref = s["secret"]
            out.update(_items_payload("Secret", ref.get("name", ""), sources.secrets.get(ref.get("name", "")),
                                      ref.get("items"), mode, bool(ref.get("optional"))))
        elif s.get("downwardAPI"):
            out.update(downward_payload(pod, s["downwardAPI"].get("items") or [], mode, host_ip, pod_ip,
                                        node_allocatable))
        elif s.get("serviceAccountToken"):
            path = s["serviceAccountToken"].get("path", "")
            token = (tokens or {}).get((vol["name"], path))
            if token is None:
                raise VolumeError("failed to fetch token: no token was requested for this projection")
            out[_clean_rel(path)] = (token.encode(), mode)
        elif s.get("clusterTrustBundle"):
            skipped.append(f'volume "{vol["name"]}": clusterTrustBundle projections are not supported')
    return out


# --------------------------------------------------------------------------- set up


def _is_mounted(path: str) -> bool:
    return path in linux.mounts_under(path)


def _tmpfs(path: str, name: str, size: int | None = None) -> None:
    os.makedirs(path, exist_ok=True)
    if not _is_mounted(path):
        opts = "mode=0777" if size is None else f"mode=0777,size={size}"
        linux.mount(name, path, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, opts)


def check_host_path(path: str, htype: str) -> None:
    """hostPath ``type`` checks (creating for the ``...OrCreate`` types), Kubernetes' messages."""
    if htype in ("", None):
        return
    if htype == "DirectoryOrCreate":
        if not os.path.exists(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
            return
        htype = "Directory"
    if htype == "FileOrCreate":
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
            with open(path, "a"):
                pass
            os.chmod(path, 0o644)
            return
        htype = "File"
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise VolumeError(f"hostPath type check failed: {path} is not a "
                          f"{_TYPE_WORDS.get(htype, htype)}") from exc
    ok = {"Directory": stat.S_ISDIR, "File": stat.S_ISREG, "Socket": stat.S_ISSOCK,
          "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK}.get(htype)
    if ok is None:
        raise VolumeError(f"hostPath type {htype!r} is not supported")
    if not ok(st.st_mode):
        raise VolumeError(f"hostPath type check failed: {path} is not a {_TYPE_WORDS.get(htype, htype)}")


_TYPE_WORDS = {"Directory": "directory", "File": "file", "Socket": "socket", "CharDevice": "character device",
               "BlockDevice": "block device"}


def setup_volumes(pod: Obj, pod_dir: str, sources: envvars.Sources, *, host_ip: str = "", pod_ip: str = "",
                  node_allocatable: dict[str, str] | None = None, tmpfs_name: str = "mizzen-volume",
                  tokens: Mapping[tuple[str, str], str] | None = None) -> PreparedVolumes:
    """Prepare (or refresh) every volume of ``pod``; idempotent, so it also carries
    ConfigMap/Secret/downwardAPI updates and refreshed tokens into the mounted files.
    ``tokens``: (volume name, path) -> token, from ``ServiceAccountTokens.fetch``. Raises
    ``VolumeError``."""
    out = PreparedVolumes()
    alloc = node_allocatable or {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = vol.get("name", "")
        try:
            if "hostPath" in vol:
                hp = vol["hostPath"]
                path = hp.get("path", "")
                check_host_path(path, hp.get("type") or "")
                out.paths[name] = path
                continue
            d = volume_dir(pod_dir, vol)
            if "emptyDir" in vol:
                ed = vol["emptyDir"] or {}
                if ed.get("medium") == "Memory":
                    limit = bytes_of(ed["sizeLimit"]) if ed.get("sizeLimit") else None
                    _tmpfs(d, tmpfs_name, limit)
                else:
                    os.makedirs(d, exist_ok=True)
                    os.chmod(d, 0o777)
            elif "configMap" in vol:
                cm = vol["configMap"]
                n = cm.get("name", "")
                write_atomic(d, _items_payload("ConfigMap", n, sources.configmaps.get(n), cm.get("items"),
                                               int(cm.get("defaultMode", DEFAULT_MODE)), bool(cm.get("optional"))))
            elif "secret" in vol:
                sv = vol["secret"]
                n = sv.get("secretName", "")
                _tmpfs(d, tmpfs_name)
                write_atomic(d, _items_payload("Secret", n, sources.secrets.get(n), sv.get("items"),
                                               int(sv.get("defaultMode", DEFAULT_MODE)), bool(sv.get("optional"))))
            elif "downwardAPI" in vol:
                da = vol["downwardAPI"]
                write_atomic(d, downward_payload(pod, da.get("items") or [], int(da.get("defaultMode", DEFAULT_MODE)),
                                                 host_ip, pod_ip, alloc))
            elif "projected" in vol:
                _tmpfs(d, tmpfs_name)  # as Kubernetes' projected plugin: tokens never touch the disk
                write_atomic(d, projected_payload(pod, vol, sources, host_ip, pod_ip, alloc, out.skipped, tokens))
            else:
                out.skipped.append(f'volume "{name}": this volume type is not supported by the mizzen kubelet')
                continue
            out.paths[name] = d
        except VolumeError as exc:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
        except OSError as exc:
            raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
    return out


_ALWAYS_READ_ONLY = ("configMap", "secret", "downwardAPI", "projected")


# --------------------------------------------------------------------------- service account tokens

#: the kubelet's token manager: refresh after 24 h at the latest, or once 80 % of the
#: lifetime has passed, whichever comes first, each less a jitter of up to 10 s
MAX_TOKEN_AGE = 24 * 3600.0
REFRESH_FRACTION = 0.8
MAX_JITTER = 10.0
#: a projection's default lifetime (the API's default for expirationSeconds)
DEFAULT_TOKEN_SECONDS = 3600


def needs_refresh(expires_at: float, ttl: float, now: float, jitter: float = 0.0) -> bool:
    """Whether a token that expires at ``expires_at`` (the TokenRequest's
    status.expirationTimestamp) after a lifetime of ``ttl`` seconds is due for renewal.

    Worked example: ttl 3607 s issued at 0 expires at 3607; 80 % of it is 2885.6 s, so it is
    renewed from 2885.6 - jitter on; a 48 h token is renewed at 24 h - jitter (the age limit)."""
    issued_at = expires_at - ttl
    if now > issued_at + MAX_TOKEN_AGE - jitter:
        return True
    return now > expires_at - ttl * (1 - REFRESH_FRACTION) - jitter


def token_sources(pod: Obj) -> list[tuple[str, Obj]]:
    """(volume name, serviceAccountToken source) of every token projection of the pod."""
    out = []
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        for src in (vol.get("projected") or {}).get("sources") or []:
            if isinstance(src, dict) and isinstance(src.get("serviceAccountToken"), dict):
                out.append((vol.get("name", ""), src["serviceAccountToken"]))
    return out


def token_request(pod: Obj, source: Obj) -> Obj:
    """The TokenRequest the kubelet sends for one projection: bound to the pod, for the
    projection's audience (none: the API server's own audiences)."""
    meta = pod.get("metadata") or {}
    spec: Obj = {"expirationSeconds": int(source.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS),
                 "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name", ""),
                                    "uid": meta.get("uid", "")}}
    if source.get("audience"):
        spec["audiences"] = [source["audience"]]
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


class TokenClient(Protocol):
    async def create(self, res: Any, obj: Mapping[str, Any], namespace: str | None = None, *,
                     subresource: str | None = None, name: str | None = None) -> Obj: ...


@dataclass
class _Token:
    token: str
    expires_at: float
    ttl: float


class ServiceAccountTokens:
    """The tokens of one pod's projections, renewed as the kubelet's token manager renews
    them; a failed renewal keeps serving the current token until it expires."""

    def __init__(self, clock: Any = time.time, jitter: Any = None) -> None:
        self.clock = clock
        self.jitter = jitter or (lambda: random.random() * MAX_JITTER)
        self.cache: dict[tuple[str, str, str, int, tuple[str, ...]], _Token] = {}

    async def fetch(self, client: TokenClient, pod: Obj) -> dict[tuple[str, str], str]:
        """(volume name, path) -> token for every serviceAccountToken projection of ``pod``;
        raises ``VolumeError`` with the FailedMount message Kubernetes writes."""
        from apimachinery.errors import StatusError

        out: dict[tuple[str, str], str] = {}
        meta = pod.get("metadata") or {}
        ns = meta.get("namespace", "")
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        for vol_name, source in token_sources(pod):
            body = token_request(pod, source)
            spec = body["spec"]
            key = (sa, ns, meta.get("uid", ""), spec["expirationSeconds"], tuple(spec.get("audiences") or ()))
            cached = self.cache.get(key)
            now = self.clock()
            if cached is None or needs_refresh(cached.expires_at, cached.ttl, now, self.jitter()):
                try:
                    answer = await client.create("serviceaccounts", body, ns, subresource="token", name=sa)
                    status = answer.get("status") or {}
                    expires = parse_time(status.get("expirationTimestamp"))
                    if not status.get("token") or expires is None:
                        raise VolumeError("the TokenRequest answer has no token")
                    cached = self.cache[key] = _Token(status["token"], expires, float(spec["expirationSeconds"]))
                except (StatusError, VolumeError, OSError) as exc:
                    where = f'MountVolume.SetUp failed for volume "{vol_name}" : '
                    if cached is None:
                        raise VolumeError(f"{where}failed to fetch token: {exc}") from exc
                    if now >= cached.expires_at:
                        raise VolumeError(f"{where}token {ns}/{sa} expired and refresh failed: {exc}") from exc
                    log.warning("pod %s/%s: token refresh failed, the current one is still valid: %s", ns,
                                meta.get("name"), exc)
            out[(vol_name, source.get("path", ""))] = cached.token
        return out


def container_mounts(pod: Obj, container: Obj, prepared: PreparedVolumes) -> list[Mount]:
    """The bind mounts of one container (``readOnly``, ``subPath``; the API-object volumes are
    read-only as in Kubernetes). Raises ``VolumeError`` for an unknown volume or a bad subPath."""
    vols = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    out: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name", "")
        host = prepared.paths.get(name)
        if host is None:
            if name in vols:
                continue     # skipped (unsupported) volume: reported when prepared
            raise VolumeError(f"volume {name!r} not found")
        vol = vols.get(name) or {}
        ro = bool(vm.get("readOnly")) or any(k in vol for k in _ALWAYS_READ_ONLY)
        sub = vm.get("subPath") or ""
        if sub:
            if sub.startswith("/") or ".." in sub.split("/"):
                raise VolumeError(f"invalid subPath {sub!r}")
            host = os.path.join(host, sub)
            if not os.path.lexists(host):
                os.makedirs(host, 0o755, exist_ok=True)
            host = os.path.realpath(host)
            base = os.path.realpath(prepared.paths[name])
            if not (host == base or host.startswith(base + "/")) and not any(k in vol for k in _ALWAYS_READ_ONLY):
                raise VolumeError(f"subPath {sub!r} escapes its volume")
        out.append(Mount(host, vm.get("mountPath", ""), readonly=ro))
    return out
