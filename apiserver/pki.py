"""The cluster's certificate authority, the API server's serving certificate, and the admin
token — generated on first start and kept in the data directory, so a restart keeps every
kubeconfig valid.

Files (all under `<data-dir>/pki/`, private ones mode 0600): ca.crt, ca.key, apiserver.crt,
apiserver.key; `<data-dir>/tokens.json` maps bearer tokens to users."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN = {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_pki(data_dir: Path) -> Path:
    """Create the CA and the serving certificate once; returns the pki directory."""
    pki = data_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    ca_crt, ca_key = pki / "ca.crt", pki / "ca.key"
    now = dt.datetime.now(dt.UTC)
    if not ca_crt.exists() or not ca_key.exists():
        key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mizzen-ca")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
                .sign(key, hashes.SHA256()))
        _write_private(ca_key, _pem_key(key))
        ca_crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    srv_crt, srv_key = pki / "apiserver.crt", pki / "apiserver.key"
    if not srv_crt.exists() or not srv_key.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_crt.read_bytes())
        ca_private = serialization.load_pem_private_key(ca_key.read_bytes(), None)
        key = _key()
        sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName("kubernetes"),
                                        x509.DNSName("kubernetes.default"), x509.DNSName("kubernetes.default.svc"),
                                        x509.DNSName("kubernetes.default.svc.cluster.local"),
                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                        x509.IPAddress(ipaddress.ip_address("10.96.0.1"))]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_private, hashes.SHA256()))  # type: ignore[arg-type]
        _write_private(srv_key, _pem_key(key))
        srv_crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pki


def ensure_tokens(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Bearer tokens → users; an admin token is created on first start."""
    path = data_dir / "tokens.json"
    if path.exists():
        return json.loads(path.read_text())
    tokens = {secrets.token_urlsafe(32): dict(ADMIN)}
    _write_private(path, json.dumps(tokens, indent=1).encode())
    return tokens


def admin_token(tokens: dict[str, dict[str, Any]]) -> str:
    for token, user in tokens.items():
        if user.get("username") == ADMIN["username"]:
            return token
    raise KeyError("no admin token")


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, token: str, cluster: str = "mizzen") -> None:
    import base64

    import yaml

    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server,
                                                   "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": f"{cluster}-admin", "user": {"token": token}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"{cluster}-admin",
                                                   "namespace": "default"}}],
        "current-context": cluster,
        "preferences": {},
    }
    _write_private(path, yaml.safe_dump(cfg, sort_keys=False).encode())


def ensure_signing_key(data_dir: Path) -> bytes:
    """The key that signs service account tokens (kept, so tokens survive a restart)."""
    path = data_dir / "pki" / "sa.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, secrets.token_bytes(32))
    return path.read_bytes()
