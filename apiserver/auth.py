"""Authentication and authorization: who is asking, and may they.

Authentication: static bearer tokens (the admin token in the kubeconfig, `tokens.json`) and
service account tokens (`kubectl create token`, TokenRequest): JWTs signed with HMAC-SHA256
by a key kept in the data directory, carrying Kubernetes' claims (`sub`
`system:serviceaccount:<ns>:<name>`, `aud`, `exp`, `kubernetes.io` with the namespace and
service account). Authorization is a plug point (`Authorizer`); until RBAC is built every
authenticated user is allowed (Kubernetes' AlwaysAllow mode), and the access reviews kubectl
asks (`auth can-i`) are answered by the same authorizer, so they tell the truth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


class Authorizer(Protocol):
    def authorize(self, user: dict[str, Any], attrs: Attributes) -> tuple[bool, str]: ...


class AlwaysAllow:
    def authorize(self, user: dict[str, Any], attrs: Attributes) -> tuple[bool, str]:
        return True, ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Authenticator:
    def __init__(self, tokens: dict[str, dict[str, Any]], signing_key: bytes):
        self.tokens = tokens
        self.key = signing_key

    def authenticate(self, token: str) -> dict[str, Any] | None:
        for known, user in self.tokens.items():
            if hmac.compare_digest(known, token):
                return user
        if token.count(".") == 2:
            return self._service_account(token)
        return None

    def issue(self, namespace: str, name: str, uid: str, *, audiences: list[str] | None = None,
              expiration_seconds: int = 3600, bound: dict[str, Any] | None = None) -> tuple[str, int]:
        """A service account token; returns (token, expiry as unix seconds)."""
        now = int(time.time())
        exp = now + expiration_seconds
        claims: dict[str, Any] = {
            "aud": audiences or [ISSUER], "exp": exp, "iat": now, "nbf": now, "iss": ISSUER,
            "jti": str(uuid.uuid4()), "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        }
        if bound and bound.get("kind") == "Pod":
            claims["kubernetes.io"]["pod"] = {"name": bound.get("name"), "uid": bound.get("uid")}
        head = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        body = _b64(orjson.dumps(claims))
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}", exp

    def _service_account(self, token: str) -> dict[str, Any] | None:
        head, body, sig = token.split(".")
        want = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, sig):
            return None
        try:
            claims = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if int(claims.get("exp", 0)) < time.time():
            return None
        k8s = claims.get("kubernetes.io") or {}
        ns = k8s.get("namespace", "")
        sa = (k8s.get("serviceaccount") or {})
        return {"username": claims.get("sub", ""), "uid": sa.get("uid", ""),
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]}
