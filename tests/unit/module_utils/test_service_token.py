"""module_utils/service_token: when the token of a kubeconfig ends, and errors that never show it."""

import base64
import json

import pytest
import yaml

from ansible_collections.k8s_lab.lab.plugins.filter.token_expiry import FilterModule, token_expiry
from ansible_collections.k8s_lab.lab.plugins.module_utils.service_token import TokenError, expiry, token_of


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(claims) -> str:
    return ".".join([b64url(b'{"alg":"RS256"}'), b64url(json.dumps(claims).encode()), b64url(b"s" * 40)])


def kubeconfig(token) -> str:
    user = {"name": "calico", "user": {"token": token}}
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "users": [user]})


@pytest.mark.parametrize("exp", [4102444800, 1000, 1765100001])
def test_the_expiry_is_read_whatever_the_padding(exp):
    """Payloads of every length mod 4 (the claims below vary it) decode without their padding."""
    for extra in ("", "a", "ab", "abc"):
        assert token_expiry(kubeconfig(jwt({"exp": exp, "sub": extra}))) == exp


def test_base64url_characters_are_read():
    claims = {"exp": 2000000000, "sub": "system:serviceaccount:kube-system:calico-cni-plugin", "x": "??>>"}
    token = jwt(claims)
    assert "-" in token or "_" in token
    assert expiry(token) == 2000000000


@pytest.mark.parametrize(("text", "message"), [
    ("users: []", "has no token"),
    ("kind: Config", "has no token"),
    ("users: [{user: {token: 5}}]", "has no token"),
    ("{{{", "has no token"),
])
def test_a_kubeconfig_without_a_token_is_said(text, message):
    with pytest.raises(TokenError, match=message):
        token_of(text)


@pytest.mark.parametrize(("token", "message"), [
    ("secret-not-a-jwt", "no JWT"),
    ("hdrxyz.!!!!.sigxyz", "not base64url JSON"),
    (jwt({"sub": "x"}), "no exp claim"),
    (jwt({"exp": "soon"}), "no exp claim"),
    (jwt({"exp": True}), "no exp claim"),
])
def test_a_token_without_an_expiry_is_said_without_showing_it(token, message):
    with pytest.raises(Exception, match=message) as raised:
        token_expiry(kubeconfig(token))
    for part in token.split("."):
        assert part not in str(raised.value)


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"token_expiry": token_expiry}
