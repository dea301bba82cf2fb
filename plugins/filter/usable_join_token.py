"""Filter for kubeadm_master: a bootstrap token that can still join a node, from kubeadm's list."""

from __future__ import annotations

DOCUMENTATION = r"""
name: usable_join_token
short_description: A short-lived bootstrap token from C(kubeadm token list) that can still join a node
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
description:
  - Picks, from the output of C(kubeadm token list -o json), a token that authenticates and signs,
    belongs to the node bootstrap group, and expires between O(min_remaining_minutes) and
    O(max_ttl_minutes) from now, so that neither a token about to expire nor a long-lived one
    (kubeadm's 24h default) is reused. Of several, the one that expires last.
options:
  _input:
    description: The output of C(kubeadm token list -o json) (one JSON object per token).
    type: str
    required: true
  min_remaining_minutes:
    description: The token must still be valid this long.
    type: int
    default: 10
  max_ttl_minutes:
    description: The token must expire within this many minutes.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Pick a short-lived token that is still good for a join
  ansible.builtin.set_fact:
    reusable_token: "{{ token_list.stdout | k8s_lab.lab.usable_join_token(10, 30) }}"
"""

RETURN = r"""
_value:
  description: The token, or an empty string when none is fit.
  type: str
"""

import datetime as dt
import json

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import TOKEN_RE

NODE_BOOTSTRAP_GROUP = "system:bootstrappers:kubeadm:default-node-token"


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
            raise AnsibleFilterError(f"usable_join_token: unreadable token list ({exc})") from exc
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
        if NODE_BOOTSTRAP_GROUP not in (item.get("groups") or []) or not item.get("expires"):
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
    """k8s_lab.lab.usable_join_token."""

    def filters(self):
        return {"usable_join_token": usable_join_token}
