"""Kubeconfigs are read as kubectl reads them: current or named context, inline (-data) or
file credentials with paths relative to the kubeconfig, tokens, insecure TLS."""

from __future__ import annotations

import base64
import datetime
import ssl
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apimachinery.client.kubeconfig import KubeConfigError, default_path, incluster_config, load_kubeconfig


def self_signed(cn: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def config(clusters: list, users: list, contexts: list, current: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": contexts,
            "current-context": current}


def test_inline_certificates_and_current_context(tmp_path: Path) -> None:
    ca, _ = self_signed("mizzen-ca")
    cert, key = self_signed("admin")
    path = write(tmp_path / "kc", config(
        [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443/", "certificate-authority-data": b64(ca)}}],
        [{"name": "u", "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
        [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "team"}}], "ctx"))
    kc = load_kubeconfig(path)
    assert (kc.server, kc.namespace, kc.context, kc.ca_data, kc.client_cert_data) == (
        "https://127.0.0.1:6443", "team", "ctx", ca, cert)
    ctx = kc.ssl_context()
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "mizzen-ca"),),)]


def test_file_paths_are_relative_to_the_kubeconfig_and_named_context_wins(tmp_path: Path) -> None:
    ca, _ = self_signed("ca")
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(ca)
    (tmp_path / "token").write_text("from-file\n")
    path = write(tmp_path / "kc", config(
        [{"name": "a", "cluster": {"server": "https://a:1", "certificate-authority": "pki/ca.crt"}},
         {"name": "b", "cluster": {"server": "http://b:2"}}],
        [{"name": "ua", "user": {"token": "t-a"}}, {"name": "ub", "user": {"tokenFile": "token"}}],
        [{"name": "ca", "context": {"cluster": "a", "user": "ua"}},
         {"name": "cb", "context": {"cluster": "b", "user": "ub"}}], "ca"))
    a = load_kubeconfig(path)
    assert (a.server, a.ca_data, a.bearer_token(), a.namespace) == ("https://a:1", ca, "t-a", "default")
    b = load_kubeconfig(path, context="cb")
    assert (b.server, b.bearer_token()) == ("http://b:2", "from-file")
    assert b.ssl_context() is None


def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    path = write(tmp_path / "kc", config(
        [{"name": "c", "cluster": {"server": "https://x", "insecure-skip-tls-verify": True}}],
        [{"name": "u", "user": {}}], [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "x"))
    ctx = load_kubeconfig(path).ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


@pytest.mark.parametrize(("doc", "message"), [
    (config([], [], [], ""), "no current-context"),
    (config([], [], [], "missing"), 'context "missing" not found'),
    (config([], [], [{"name": "x", "context": {"cluster": "c"}}], "x"), 'cluster "c" not found'),
    (config([{"name": "c", "cluster": {}}], [], [{"name": "x", "context": {"cluster": "c"}}], "x"), "has no server"),
    (config([{"name": "c", "cluster": {"server": "https://x"}}],
            [{"name": "u", "user": {"exec": {"command": "aws"}}}],
            [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "x"), "not supported"),
])
def test_errors_say_what_is_wrong(tmp_path: Path, doc: dict, message: str) -> None:
    with pytest.raises(KubeConfigError, match=message):
        load_kubeconfig(write(tmp_path / "kc", doc))


def test_default_path_follows_kubeconfig_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real"
    real.write_text("")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{real}")
    assert default_path() == real
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_path() == tmp_path / ".kube" / "config"


def test_in_cluster_config_from_service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, _ = self_signed("cluster-ca")
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(ca)
    (tmp_path / "namespace").write_text("apps")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    kc = incluster_config(tmp_path)
    assert (kc.server, kc.namespace, kc.bearer_token(), kc.ca_data) == ("https://10.96.0.1:443", "apps", "sa-token", ca)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(KubeConfigError, match="not in a cluster"):
        incluster_config(tmp_path)
