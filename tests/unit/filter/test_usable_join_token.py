"""Which bootstrap token the master play reuses, from `kubeadm token list -o json` output."""

import datetime as dt
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.filter.usable_join_token import (
    FilterModule,
    parse_token_list,
    usable_join_token,
)

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def token(value="abcdef.0123456789abcdef", minutes=25, usages=("authentication", "signing"),
          groups=("system:bootstrappers:kubeadm:default-node-token",)):
    item = {
        "kind": "BootstrapToken",
        "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
        "token": value,
        "usages": list(usages),
        "groups": list(groups),
    }
    if minutes is not None:
        item["expires"] = (NOW + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return item


def listing(*items):
    # kubeadm prints one indented JSON object per token, not an array.
    return "\n".join(json.dumps(item, indent=4) for item in items)


def test_empty_list_gives_no_token():
    assert usable_join_token("", now=NOW) == ""


def test_fresh_token_is_reused():
    assert usable_join_token(listing(token()), now=NOW) == "abcdef.0123456789abcdef"


@pytest.mark.parametrize("case", [
    token(minutes=5),            # about to expire
    token(minutes=-1),           # expired
    token(minutes=24 * 60),      # kubeadm's 24h default: not short-lived
    token(minutes=None),         # never expires
    token(usages=("authentication",)),
    token(groups=("system:bootstrappers:other",)),
    token(value="not-a-token"),
], ids=["expiring", "expired", "long-lived", "no-expiry", "no-signing", "other-group", "malformed"])
def test_unfit_tokens_are_not_reused(case):
    assert usable_join_token(listing(case), now=NOW) == ""


def test_latest_expiring_fit_token_wins():
    text = listing(token("aaaaaa.aaaaaaaaaaaaaaaa", 15), token("bbbbbb.bbbbbbbbbbbbbbbb", 28),
                   token("cccccc.cccccccccccccccc", 3))
    assert usable_join_token(text, now=NOW) == "bbbbbb.bbbbbbbbbbbbbbbb"


def test_limits_are_parameters():
    text = listing(token(minutes=50))
    assert usable_join_token(text, now=NOW) == ""
    assert usable_join_token(text, min_remaining_minutes=10, max_ttl_minutes=60, now=NOW) != ""


def test_now_as_string_and_offsets():
    item = token(minutes=None)
    item["expires"] = "2026-11-27T13:20:00+01:00"
    assert usable_join_token(listing(item), now="2026-11-27T12:00:00Z") == item["token"]


def test_parse_accepts_array_and_objects():
    assert len(parse_token_list(json.dumps([token(), token()]))) == 2
    assert len(parse_token_list(listing(token(), token(), token()))) == 3


def test_parse_rejects_garbage():
    with pytest.raises(AnsibleFilterError, match="unreadable token list"):
        parse_token_list("{not json")


def test_filters_are_registered():
    assert FilterModule().filters() == {"usable_join_token": usable_join_token}
