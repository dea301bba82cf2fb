"""Filters for the kubeadm join on the controller: the CA pin and a reusable bootstrap token."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: k8s_lab_pki
short_description: kubeadm CA pins and bootstrap token selection
description:
  - C(k8s_lab_ca_cert_hash) turns a PEM CA certificate into kubeadm's pin
    C(sha256:<hex of SHA-256 of the DER SubjectPublicKeyInfo>), for RSA and EC keys alike.
  - C(k8s_lab_usable_join_token) picks, from the output of C(kubeadm token list -o json), a token
    that can still be used to join and expires soon enough to count as short-lived.
"""

TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
NODE_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"  # noqa: S105 (a group name)


def ca_cert_hash(pem):
    """Return kubeadm's pin of a PEM certificate (str or bytes)."""
    # Imported here so that the other filter works on controllers without cryptography.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if isinstance(pem, str):
        pem = pem.encode("ascii", errors="replace")
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise AnsibleFilterError(f"k8s_lab_ca_cert_hash: not a PEM certificate ({exc})") from exc
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def parse_token_list(text):
    """The token objects printed by `kubeadm token list -o json` (one JSON object per token)."""
    decoder = json.JSONDecoder()
    tokens, pos, text = [], 0, text or ""
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return tokens
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise AnsibleFilterError(f"k8s_lab_usable_join_token: unreadable token list ({exc})") from exc
        if isinstance(item, list):
            tokens.extend(item)
        else:
            tokens.append(item)


def _parse_time(value):
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def usable_join_token(text, min_remaining_minutes=10, max_ttl_minutes=30, now=None):
    """A token from the list fit to join a node now, or "" when there is none.

    Fit means: it authenticates and signs (discovery needs the signature), it is in the node
    bootstrap group, and it expires between min_remaining and max_ttl minutes from now, so that
    neither a token about to expire nor a long-lived one (kubeadm's 24h default) is reused.
    """
    now = now or dt.datetime.now(dt.UTC)
    if isinstance(now, str):
        now = _parse_time(now)
    best, best_expiry = "", None
    for item in parse_token_list(text):
        token = item.get("token", "")
        usages = item.get("usages") or []
        if not TOKEN_RE.match(token) or "authentication" not in usages or "signing" not in usages:
            continue
        if NODE_TOKEN_GROUP not in (item.get("groups") or []) or not item.get("expires"):
            continue
        try:
            expires = _parse_time(item["expires"])
        except ValueError:
            continue
        remaining = (expires - now).total_seconds() / 60
        if min_remaining_minutes <= remaining <= max_ttl_minutes and (best_expiry is None or expires > best_expiry):
            best, best_expiry = token, expires
    return best


class FilterModule:
    """k8s-lab PKI filters."""

    def filters(self):
        return {
            "k8s_lab_ca_cert_hash": ca_cert_hash,
            "k8s_lab_usable_join_token": usable_join_token,
        }
