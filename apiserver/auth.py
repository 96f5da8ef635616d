"""Authentication and authorization: who is asking, and may they.

Authentication: static bearer tokens (the admin token in the kubeconfig, `tokens.json`) and
service account tokens (`kubectl create token`, TokenRequest, the kubelet's projected
`kube-api-access-*` volumes): JWTs signed with HMAC-SHA256 by a key kept in the data
directory, carrying Kubernetes' claims (`sub` `system:serviceaccount:<ns>:<name>`, `aud`,
`exp`, `iat`, `nbf`, `jti`, and `kubernetes.io` with the namespace, the service account and,
for a bound token, the pod (and its node) or secret it is bound to). As in Kubernetes, a
token is only as good as what it names: it is refused (401) once its service account, or
the pod or secret it is bound to, is gone or was recreated with another uid.

Authorization is a plug point (`Authorizer`); until RBAC is built every authenticated user is
allowed (Kubernetes' AlwaysAllow mode), and the access reviews kubectl asks (`auth can-i`)
are answered by the same authorizer, so they tell the truth.

What this module must never do: read storage itself (objects are looked up through the
`Getter` the API server hands in), or accept a token whose signature, audience window or
bound objects it has not checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from apimachinery.timefmt import parse_time

ISSUER = "https://kubernetes.default.svc.cluster.local"
#: `--api-audiences` of kube-apiserver defaults to the issuer
API_AUDIENCES = (ISSUER,)
#: the kubelet asks for exactly this many seconds; Kubernetes then issues a token valid for a
#: year that only warns after 3607 s (`--service-account-extend-token-expiration`, on by default)
WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 3607
EXTENDED_EXPIRATION_SECONDS = 365 * 24 * 3600
#: clock skew allowed on exp/nbf, and how long a deleted bound object keeps its tokens valid
LEEWAY_SECONDS = 60

POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"

JSON = dict[str, Any]
#: (plural, namespace, name) -> the stored object, or None when there is none
Getter = Callable[[str, str, str], Awaitable[JSON | None]]


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


# --------------------------------------------------------------------------- pure decisions


def _ref(obj: JSON | None) -> JSON | None:
    if obj is None:
        return None
    m = obj.get("metadata") or {}
    return {"name": m.get("name", ""), "uid": m.get("uid", "")}


def token_lifetime(requested: int, bound_to_pod: bool, audiences: list[str],
                   api_audiences: tuple[str, ...] = API_AUDIENCES) -> tuple[int, int]:
    """(seconds until `exp`, seconds until `warnafter` or 0): a pod-bound token for the API
    server's own audiences asked for exactly 3607 s (what the kubelet asks) lives a year and
    only warns after 3607 s, as kube-apiserver does with `--service-account-extend-token-expiration`."""
    if bound_to_pod and requested == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS and \
            set(audiences) <= set(api_audiences):
        return EXTENDED_EXPIRATION_SECONDS, requested
    return requested, 0


def token_claims(sa: JSON, *, audiences: list[str], expiration_seconds: int, now: int, jti: str,
                 warn_after_seconds: int = 0, pod: JSON | None = None, node: JSON | None = None,
                 secret: JSON | None = None) -> JSON:
    """The claims of a service account token, Kubernetes' shape (pkg/serviceaccount/claims.go):
    `node` appears for a pod bound to a node (with the node's uid when the Node exists)."""
    m = sa.get("metadata") or {}
    ns = m.get("namespace", "")
    k8s: JSON = {"namespace": ns}
    if node is not None:
        k8s["node"] = {k: v for k, v in (_ref(node) or {}).items() if v}
    if pod is not None:
        k8s["pod"] = _ref(pod)
    if secret is not None:
        k8s["secret"] = _ref(secret)
    k8s["serviceaccount"] = _ref(sa)
    if warn_after_seconds:
        k8s["warnafter"] = now + warn_after_seconds
    return {"aud": list(audiences), "exp": now + expiration_seconds, "iat": now, "iss": ISSUER, "jti": jti,
            "kubernetes.io": k8s, "nbf": now, "sub": f"system:serviceaccount:{ns}:{m.get('name', '')}"}


def audiences_of(claims: JSON, wanted: tuple[str, ...] | list[str] = API_AUDIENCES) -> list[str]:
    """The audiences of `wanted` the token is for (empty: not for this server)."""
    aud = claims.get("aud")
    have = [aud] if isinstance(aud, str) else list(aud or [])
    return [a for a in wanted if a in have]


def refusal(claims: JSON, sa: JSON | None, pod: JSON | None, secret: JSON | None, now: float,
            audiences: tuple[str, ...] | list[str] = API_AUDIENCES) -> str | None:
    """Why a validly signed token must be refused now (None: accept). The objects are the
    current ones named by the claims (None when absent), as the validator of
    kube-apiserver reads them: an object deleted more than LEEWAY_SECONDS ago counts as gone;
    a token for other audiences (`kubectl create token --audience vault`) is not for us."""
    if not audiences_of(claims, audiences):
        return "token audiences do not match the API server's audiences"
    if int(claims.get("exp", 0)) + LEEWAY_SECONDS < now:
        return "service account token has expired"
    if int(claims.get("nbf", 0)) - LEEWAY_SECONDS > now:
        return "service account token is not valid yet"
    k8s = claims.get("kubernetes.io") or {}
    ns = k8s.get("namespace", "")
    checks = [("service account", "serviceaccount", sa), ("pod", "pod", pod), ("secret", "secret", secret)]
    for what, key, obj in checks:
        ref = k8s.get(key)
        if ref is None:
            continue
        name = ref.get("name", "")
        if obj is None:
            return f'{key}s "{name}" not found'
        m = obj.get("metadata") or {}
        if m.get("uid") != ref.get("uid"):
            return f"{what} UID ({m.get('uid')}) does not match claim ({ref.get('uid')})"
        deleted = m.get("deletionTimestamp")
        if deleted and (parse_time(deleted) or 0) < now - LEEWAY_SECONDS:
            return f"{what} {ns}/{name} has been deleted"
    return None


def user_info(claims: JSON) -> JSON:
    """The user a service account token authenticates as (ServiceAccountInfo.UserInfo)."""
    k8s = claims.get("kubernetes.io") or {}
    ns = k8s.get("namespace", "")
    sa = k8s.get("serviceaccount") or {}
    extra: dict[str, list[str]] = {}
    pod = k8s.get("pod") or {}
    if pod.get("name") and pod.get("uid"):
        extra[POD_NAME_KEY] = [pod["name"]]
        extra[POD_UID_KEY] = [pod["uid"]]
    node = k8s.get("node") or {}
    if node.get("name"):
        extra[NODE_NAME_KEY] = [node["name"]]
        if node.get("uid"):
            extra[NODE_UID_KEY] = [node["uid"]]
    if claims.get("jti"):
        extra[CREDENTIAL_ID_KEY] = [f"JTI={claims['jti']}"]
    user: JSON = {"username": f"system:serviceaccount:{ns}:{sa.get('name', '')}", "uid": sa.get("uid", ""),
                  "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]}
    if extra:
        user["extra"] = extra
    return user


# --------------------------------------------------------------------------- the authenticator


class Authenticator:
    def __init__(self, tokens: dict[str, dict[str, Any]], signing_key: bytes, getter: Getter | None = None):
        self.tokens = tokens
        self.key = signing_key
        self.getter = getter

    async def authenticate(self, token: str, audiences: tuple[str, ...] | list[str] = API_AUDIENCES,
                           ) -> dict[str, Any] | None:
        """The user a bearer token stands for, or None (the caller answers 401); a service
        account token must be for one of `audiences`."""
        for known, user in self.tokens.items():
            if hmac.compare_digest(known, token):
                return user
        if token.count(".") != 2:
            return None
        claims = self.verify(token)
        if claims is None:
            return None
        if self.getter is not None:
            k8s = claims.get("kubernetes.io") or {}
            ns = k8s.get("namespace", "")

            async def named(plural: str, key: str) -> JSON | None:
                ref = k8s.get(key)
                return None if ref is None else await self.getter(plural, ns, ref.get("name", ""))  # type: ignore[misc]
            sa, pod, secret = (await named("serviceaccounts", "serviceaccount"), await named("pods", "pod"),
                               await named("secrets", "secret"))
            if refusal(claims, sa, pod, secret, time.time(), audiences) is not None:
                return None
        elif int(claims.get("exp", 0)) + LEEWAY_SECONDS < time.time() or not audiences_of(claims, audiences):
            return None
        return user_info(claims)

    def sign(self, claims: JSON) -> str:
        head = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        body = _b64(orjson.dumps(claims))
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def verify(self, token: str) -> JSON | None:
        """The claims of a token this server signed (None for anything else)."""
        head, body, sig = token.split(".")
        want = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want, sig):
            return None
        try:
            claims = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            return None
        return claims

    def issue(self, sa: JSON, *, audiences: list[str] | None = None, expiration_seconds: int = 3600,
              pod: JSON | None = None, node: JSON | None = None, secret: JSON | None = None,
              now: int | None = None) -> tuple[str, JSON]:
        """A signed service account token and its claims."""
        auds = list(audiences or API_AUDIENCES)
        seconds, warn_after = token_lifetime(expiration_seconds, pod is not None, auds)
        claims = token_claims(sa, audiences=auds, expiration_seconds=seconds, warn_after_seconds=warn_after,
                              now=int(time.time()) if now is None else now, jti=str(uuid.uuid4()), pod=pod,
                              node=node, secret=secret)
        return self.sign(claims), claims
