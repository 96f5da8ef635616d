"""Service account tokens: the claims Kubernetes puts in a (bound) token, the lifetime the
kubelet's 3607 s request gets, and when a validly signed token is refused anyway."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from apiserver.auth import (
    EXTENDED_EXPIRATION_SECONDS,
    ISSUER,
    Authenticator,
    refusal,
    token_claims,
    token_lifetime,
    user_info,
)

NOW = 1_800_000_000
SA = {"metadata": {"name": "default", "namespace": "team", "uid": "sa-uid"}}
POD = {"metadata": {"name": "web", "namespace": "team", "uid": "pod-uid"}, "spec": {"nodeName": "node-1"}}
NODE = {"metadata": {"name": "node-1", "uid": "node-uid"}}
SECRET = {"metadata": {"name": "s", "namespace": "team", "uid": "secret-uid"}}


def test_pod_bound_claims() -> None:
    claims = token_claims(SA, audiences=[ISSUER], expiration_seconds=3600, now=NOW, jti="j-1", pod=POD, node=NODE,
                          warn_after_seconds=3607)
    assert claims == {
        "aud": [ISSUER], "exp": NOW + 3600, "iat": NOW, "nbf": NOW, "iss": ISSUER, "jti": "j-1",
        "sub": "system:serviceaccount:team:default",
        "kubernetes.io": {"namespace": "team", "node": {"name": "node-1", "uid": "node-uid"},
                          "pod": {"name": "web", "uid": "pod-uid"},
                          "serviceaccount": {"name": "default", "uid": "sa-uid"}, "warnafter": NOW + 3607}}


def test_unbound_and_secret_bound_claims() -> None:
    plain = token_claims(SA, audiences=["vault"], expiration_seconds=600, now=NOW, jti="j")
    assert plain["kubernetes.io"] == {"namespace": "team", "serviceaccount": {"name": "default", "uid": "sa-uid"}}
    assert plain["aud"] == ["vault"] and plain["exp"] == NOW + 600
    secret = token_claims(SA, audiences=[ISSUER], expiration_seconds=600, now=NOW, jti="j", secret=SECRET)
    assert secret["kubernetes.io"]["secret"] == {"name": "s", "uid": "secret-uid"}
    # a node that does not exist (any more) still leaves its name
    nameless = token_claims(SA, audiences=[ISSUER], expiration_seconds=600, now=NOW, jti="j", pod=POD,
                            node={"metadata": {"name": "node-9"}})
    assert nameless["kubernetes.io"]["node"] == {"name": "node-9"}


@pytest.mark.parametrize(("requested", "bound", "audiences", "expected"), [
    (3607, True, [ISSUER], (EXTENDED_EXPIRATION_SECONDS, 3607)),  # what the kubelet asks: a year, warn after 3607
    (3607, False, [ISSUER], (3607, 0)),  # not bound to a pod
    (3607, True, ["vault"], (3607, 0)),  # not for the API server
    (3600, True, [ISSUER], (3600, 0)),
])
def test_token_lifetime(requested: int, bound: bool, audiences: list[str], expected: tuple[int, int]) -> None:
    assert token_lifetime(requested, bound, audiences) == expected


CLAIMS = token_claims(SA, audiences=[ISSUER], expiration_seconds=3600, now=NOW, jti="j", pod=POD, node=NODE)


def deleted(obj: dict[str, Any], at: str) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "deletionTimestamp": at}}


@pytest.mark.parametrize(("sa", "pod", "now", "why"), [
    (SA, POD, NOW + 10, None),
    (SA, POD, NOW + 3600 + 59, None),  # a minute of clock skew
    (SA, POD, NOW + 3600 + 61, "service account token has expired"),
    (SA, POD, NOW - 61, "service account token is not valid yet"),
    (SA, None, NOW + 10, 'pods "web" not found'),
    (SA, {**POD, "metadata": {**POD["metadata"], "uid": "other"}}, NOW + 10,
     "pod UID (other) does not match claim (pod-uid)"),
    (None, POD, NOW + 10, 'serviceaccounts "default" not found'),
    ({**SA, "metadata": {**SA["metadata"], "uid": "new"}}, POD, NOW + 10,
     "service account UID (new) does not match claim (sa-uid)"),
    # a terminating pod's token stays good until a minute after its deletionTimestamp
    (SA, deleted(POD, "2027-01-15T08:00:00Z"), 1_800_000_000 + 10, None),
    (SA, deleted(POD, "2027-01-15T08:00:00Z"), 1_800_000_000 + 61, "pod team/web has been deleted"),
])
def test_refusal(sa: dict[str, Any] | None, pod: dict[str, Any] | None, now: int, why: str | None) -> None:
    assert refusal(CLAIMS, sa, pod, None, now) == why


def test_tokens_for_other_audiences_are_not_for_the_api_server() -> None:
    vault = token_claims(SA, audiences=["vault"], expiration_seconds=600, now=NOW, jti="j")
    assert refusal(vault, SA, None, None, NOW) == "token audiences do not match the API server's audiences"
    assert refusal(vault, SA, None, None, NOW, audiences=["vault"]) is None  # a TokenReview asking for vault


def test_user_info_of_a_pod_bound_token() -> None:
    assert user_info(CLAIMS) == {
        "username": "system:serviceaccount:team:default", "uid": "sa-uid",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"],
        "extra": {"authentication.kubernetes.io/pod-name": ["web"], "authentication.kubernetes.io/pod-uid": ["pod-uid"],
                  "authentication.kubernetes.io/node-name": ["node-1"],
                  "authentication.kubernetes.io/node-uid": ["node-uid"],
                  "authentication.kubernetes.io/credential-id": ["JTI=j"]}}


async def test_authenticator_follows_the_bound_pod() -> None:
    objects: dict[tuple[str, str], dict[str, Any]] = {("serviceaccounts", "default"): SA, ("pods", "web"): POD}

    async def get(plural: str, ns: str, name: str) -> dict[str, Any] | None:
        assert ns == "team"
        return objects.get((plural, name))
    auth = Authenticator({"admin-token": {"username": "admin"}}, b"k" * 32, get)
    token, claims = auth.issue(SA, expiration_seconds=3607, pod=POD, node=NODE)
    head, body, _sig = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == claims
    assert claims["exp"] - claims["iat"] == EXTENDED_EXPIRATION_SECONDS
    user = await auth.authenticate(token)
    assert user is not None and user["username"] == "system:serviceaccount:team:default"
    assert await auth.authenticate("admin-token") == {"username": "admin"}
    assert await auth.authenticate(token[:-2] + "xx") is None  # signature
    vault, _ = auth.issue(SA, audiences=["vault"])
    assert await auth.authenticate(vault) is None
    assert (await auth.authenticate(vault, ["vault"]) or {}).get("username") == "system:serviceaccount:team:default"
    assert await Authenticator({}, b"other-key" * 4, get).authenticate(token) is None
    objects[("pods", "web")] = {**POD, "metadata": {**POD["metadata"], "uid": "recreated"}}
    assert await auth.authenticate(token) is None
    del objects[("pods", "web")]
    assert await auth.authenticate(token) is None
