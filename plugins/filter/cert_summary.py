"""Filter for the health table: one cell that sums up a node's certificates."""

from __future__ import annotations

DOCUMENTATION = r"""
name: cert_summary
short_description: A node's certificates in one health-table cell
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the result of M(k8s_lab.lab.cert_expiry) and returns C(EXPIRED <names>) when any
    certificate has ended (then the expiring ones after C(;)), C(expiring <name> (<days> d), ...)
    when any has fewer days left than the module's threshold, else C(ok (<days> d)) with the
    fewest days left, or C(none) when no file was found.
options:
  _input:
    description: The registered result of M(k8s_lab.lab.cert_expiry).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Sum up the node's certificates
  ansible.builtin.debug:
    msg: "{{ certs | k8s_lab.lab.cert_summary }}"
"""

RETURN = r"""
_value:
  description: The cell, e.g. C(ok (364 d)), C(expiring apiserver.crt (12 d)), C(EXPIRED admin.conf, apiserver.crt).
  type: str
"""


def cert_summary(result):
    certificates = (result or {}).get("certificates") or []
    if not certificates:
        return "none"
    expired = sorted(c["name"] for c in certificates if c["status"] == "EXPIRED")
    expiring = sorted((c for c in certificates if c["status"] == "expiring"), key=lambda c: c["name"])
    expiring_text = ", ".join(f"{c['name']} ({int(c['days_left'])} d)" for c in expiring)
    if expired:
        return "EXPIRED " + ", ".join(expired) + (f"; expiring {expiring_text}" if expiring else "")
    if expiring:
        return f"expiring {expiring_text}"
    return f"ok ({int(min(c['days_left'] for c in certificates))} d)"


class FilterModule:
    """k8s_lab.lab.cert_summary."""

    def filters(self):
        return {"cert_summary": cert_summary}
