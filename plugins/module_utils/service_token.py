"""When the service account token a kubeconfig holds ends, read without verifying it (for the
recover role, which renews Calico's CNI token before it expires). A JWT is header.payload.signature,
each base64url without padding; "exp" in the payload is the end, in seconds since the epoch."""

from __future__ import annotations

import base64
import binascii
import json

import yaml


class TokenError(ValueError):
    """The kubeconfig holds no token, or one that is not a JWT with an expiry. The message never
    contains the token."""


def token_of(kubeconfig: str) -> str:
    """The token of the kubeconfig's first user."""
    try:
        config = yaml.safe_load(kubeconfig) or {}
        token = config["users"][0]["user"]["token"]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise TokenError("the kubeconfig's first user has no token") from exc
    if not isinstance(token, str):
        raise TokenError("the kubeconfig's first user has no token")
    return token


def expiry(token: str) -> int:
    """The token's exp claim."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError(f"the token is no JWT (it has {len(parts)} part(s), not 3)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("the token's payload is not base64url JSON") from exc
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise TokenError("the token's payload has no exp claim")
    return exp


def kubeconfig_token_expiry(kubeconfig: str) -> int:
    return expiry(token_of(kubeconfig))
