"""Kubeconfig files: where the API server is and how to prove who we are to it.

Every mizzen component takes `--kubeconfig` and reads it with this module, so any component
can be pointed at any cluster (mizzen's or a real Kubernetes one). It understands the subset
of the format that matters for a direct connection: the current (or a named) context, the
cluster's `server`, `certificate-authority(-data)`, `insecure-skip-tls-verify`,
`tls-server-name`, and the user's `client-certificate(-data)`/`client-key(-data)`, `token`,
`tokenFile`, `username`/`password`. Exec and auth-provider plug-ins are not supported (they
raise a clear error rather than being silently ignored).

It reads small files when called; call it at start-up, not per request (a `tokenFile` is
re-read at most once a minute). It never writes
anything except short-lived private temporary files that `ssl` needs to load in-memory
client certificates, which it removes at once.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class KubeConfigError(Exception):
    pass


def default_path() -> Path:
    """The first file of `$KUBECONFIG` (a path list) that exists, else `~/.kube/config`
    (kubectl merges all files of `$KUBECONFIG`; the first one is enough for us)."""
    env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in env.split(os.pathsep) if p]
    for p in candidates:
        if Path(p).expanduser().exists():
            return Path(p).expanduser()
    if candidates:
        return Path(candidates[0]).expanduser()
    return Path.home() / ".kube" / "config"


@dataclass
class KubeConfig:
    server: str
    namespace: str = "default"
    context: str = ""
    cluster: str = ""
    user: str = ""
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_https(self) -> bool:
        return self.server.lower().startswith("https://")

    def bearer_token(self) -> str | None:
        """The token; from `tokenFile`, re-read at most once a minute (projected tokens rotate,
        and client-go re-reads them on the same period)."""
        if not self.token_file:
            return self.token
        now = time.monotonic()
        cached = self.extra.get("_token_file_cache")
        if cached is not None and now - cached[0] < 60.0:
            return cached[1]
        token: str | None
        try:
            token = Path(self.token_file).read_text().strip()
        except OSError:
            token = cached[1] if cached is not None else self.token
        self.extra["_token_file_cache"] = (now, token)
        return token

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for this cluster and user; None for a plain-http server."""
        if not self.is_https:
            return None
        # With a cluster CA, trust only it (as client-go does); else the system's CAs.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if self.client_cert_data and self.client_key_data:
            _load_cert_chain(ctx, self.client_cert_data, self.client_key_data)
        return ctx


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl can only load a certificate chain from files: write private temporaries, load, delete.
    with tempfile.TemporaryDirectory(prefix="mizzen-kubeconfig-") as d:
        cert_path = os.path.join(d, "client.crt")
        key_path = os.path.join(d, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cert_path, key_path)


def _named(items: list[dict[str, Any]] | None, name: str, what: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return item.get(what) or {}
    raise KubeConfigError(f'{what} "{name}" not found in kubeconfig')


def _data_or_file(section: dict[str, Any], key: str, base: Path) -> bytes | None:
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data)
        except ValueError as e:
            raise KubeConfigError(f"{key}-data is not valid base64") from e
    path = section.get(key)
    if path:
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = base / p
        try:
            return p.read_bytes()
        except OSError as e:
            raise KubeConfigError(f"cannot read {key} {p}: {e}") from e
    return None


def parse_kubeconfig(doc: dict[str, Any], *, context: str | None = None, base_dir: Path | str = ".") -> KubeConfig:
    """A `KubeConfig` from a parsed kubeconfig document; relative file paths are resolved
    against `base_dir` (the kubeconfig's own directory, as kubectl does)."""
    base = Path(base_dir)
    ctx_name = context or doc.get("current-context") or ""
    if not ctx_name:
        raise KubeConfigError("kubeconfig has no current-context and none was given")
    ctx = _named(doc.get("contexts"), ctx_name, "context")
    cluster_name = ctx.get("cluster", "")
    cluster = _named(doc.get("clusters"), cluster_name, "cluster")
    user_name = ctx.get("user", "")
    user = _named(doc.get("users"), user_name, "user") if user_name else {}
    if "exec" in user or "auth-provider" in user:
        raise KubeConfigError(f'user "{user_name}": exec and auth-provider credentials are not supported')
    server = (cluster.get("server") or "").rstrip("/")
    if not server:
        raise KubeConfigError(f'cluster "{cluster_name}" has no server')
    token_file = user.get("tokenFile")
    if token_file and not Path(token_file).is_absolute():
        token_file = str(base / token_file)
    return KubeConfig(
        server=server,
        namespace=ctx.get("namespace") or "default",
        context=ctx_name,
        cluster=cluster_name,
        user=user_name,
        ca_data=_data_or_file(cluster, "certificate-authority", base),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
        client_cert_data=_data_or_file(user, "client-certificate", base),
        client_key_data=_data_or_file(user, "client-key", base),
        token=user.get("token"),
        token_file=token_file,
        username=user.get("username"),
        password=user.get("password"),
    )


def load_kubeconfig(path: str | os.PathLike[str] | None = None, context: str | None = None) -> KubeConfig:
    """Read a kubeconfig file (default: `$KUBECONFIG` or `~/.kube/config`)."""
    p = Path(path).expanduser() if path else default_path()
    try:
        text = p.read_text()
    except OSError as e:
        raise KubeConfigError(f"cannot read kubeconfig {p}: {e}") from e
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise KubeConfigError(f"{p} is not a kubeconfig")
    return parse_kubeconfig(doc, context=context, base_dir=p.parent)


SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def incluster_config(sa_dir: Path | str = SERVICE_ACCOUNT_DIR) -> KubeConfig:
    """The config of a process running in a pod (client-go's InClusterConfig): the API server
    from `$KUBERNETES_SERVICE_HOST`/`$KUBERNETES_SERVICE_PORT`, the service account's token
    (re-read as it rotates), CA and namespace from `sa_dir`."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise KubeConfigError("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
    d = Path(sa_dir)
    token_file = d / "token"
    if not token_file.exists():
        raise KubeConfigError(f"not in a cluster: no service account token at {token_file}")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6
    try:
        namespace = (d / "namespace").read_text().strip() or "default"
    except OSError:
        namespace = "default"
    ca = d / "ca.crt"
    return KubeConfig(server=f"https://{host}:{port}", namespace=namespace, context="in-cluster",
                      ca_data=ca.read_bytes() if ca.exists() else None, token_file=str(token_file))
