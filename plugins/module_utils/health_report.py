"""The lab's health report, decided and laid out in one place (the health role's report.yml, on the
controller): one row per node from what each node's node.yml read, node readiness and the pods from
the API server, and the verdict. For the filter health_report."""

from __future__ import annotations

import re

from ansible_collections.k8s_lab.lab.plugins.module_utils.node_ready import ready_status

COLUMNS = ("node", "ready", "kubelet", "containerd", "swap off", "modules", "sysctls", "lab ip", "certs")
# Certificate cells (the cert_summary filter) that are healthy.
CERTS_OK = re.compile(r"^(ok|none)")
API_PROBLEM_LENGTH = 200


def _true(value) -> bool:
    """A fact's boolean, whether set_fact kept it a bool or made it a string."""
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def truncate(text: str, length: int = API_PROBLEM_LENGTH, leeway: int = 5, end: str = "...") -> str:
    """Shortened at a word boundary, as Jinja's truncate filter does (the error stays one line long)."""
    if len(text) <= length + leeway:
        return text
    return text[:length - len(end)].rsplit(" ", 1)[0] + end


def bad_pods(pods, pending_ok: bool = False) -> list[dict[str, str]]:
    """The pods that are not fine: a phase other than Running or Succeeded (completed Job pods are
    fine), or a container waiting (a Running pod in CrashLoopBackOff is not fine). A pod waiting
    to be scheduled (Pending, no container yet) counts only without pending_ok."""
    bad = []
    for pod in pods or []:
        status = pod.get("status") or {}
        containers = status.get("containerStatuses") or []
        waiting = [(c.get("state") or {}).get("waiting", {}).get("reason") for c in containers
                   if "waiting" in (c.get("state") or {})]
        phase = status.get("phase") or "Unknown"
        unscheduled = phase == "Pending" and not containers
        if (phase not in ("Running", "Succeeded") or waiting) and not (unscheduled and pending_ok):
            metadata = pod.get("metadata") or {}
            bad.append({"pod": f"{metadata.get('namespace', '')}/{metadata.get('name', '')}",
                        "status": waiting[0] if waiting and waiting[0] else phase,
                        "node": (pod.get("spec") or {}).get("nodeName") or "-"})
    return bad


def row(name: str, facts, ready: str) -> dict[str, str]:
    """One node's row: facts is what its node.yml set (empty when it could not be read)."""
    facts = facts or {}
    services = facts.get("services") or {}
    if not facts:
        unread = dict.fromkeys(("swap off", "modules", "sysctls", "lab ip"), "?")
    else:
        missing, wrong = facts.get("modules_missing") or [], facts.get("sysctl_wrong") or []
        unread = {
            "swap off": "yes" if _true(facts.get("swap_off")) else "NO",
            "modules": "ok" if not missing else "missing " + ",".join(missing),
            "sysctls": "ok" if not wrong else "wrong " + ",".join(wrong),
            "lab ip": (facts.get("lab_ip") or "-") + ("" if _true(facts.get("lab_ip_present")) else " MISSING"),
        }
    return {"node": name, "ready": ready,
            "kubelet": services.get("kubelet", "unreachable"), "containerd": services.get("containerd", "unreachable"),
            **unread, "certs": facts.get("certs", "?")}


def is_healthy(rows: list[dict[str, str]], controller_cert: str, api_ok: bool, bad: list) -> bool:
    return (bool(rows)
            and all(r["ready"] in ("True", "n/a") for r in rows)
            and all(r["kubelet"] == "active" and r["containerd"] == "active" for r in rows)
            and all(r["swap off"] == "yes" and r["modules"] == "ok" and r["sysctls"] == "ok" for r in rows)
            and not any("MISSING" in r["lab ip"] for r in rows)
            and all(CERTS_OK.match(r["certs"]) for r in rows)
            and bool(CERTS_OK.match(controller_cert))
            and api_ok and not bad)


def render(rows: list[dict[str, str]], kubeconfig: str, controller_cert: str, api_problem: str | None,
           bad: list[dict[str, str]], healthy: bool) -> str:
    """The table, columns aligned under their headings, then the controller's kubeconfig, the pods
    and the verdict."""
    widths = {col: max([len(col)] + [len(r[col]) for r in rows]) for col in COLUMNS}
    lines = ["".join(f"{col.upper().ljust(widths[col])}  " for col in COLUMNS)]
    lines += ["".join(f"{r[col].ljust(widths[col])}  " for col in COLUMNS) for r in rows]
    lines.append(f"The controller's kubeconfig ({kubeconfig}): {controller_cert}")
    if api_problem is not None:
        lines.append(f"Node readiness and pods: not checked, {api_problem}.")
    elif bad:
        lines.append(f"Pods not running ({len(bad)}):")
        lines += [f"  {p['pod']}  {p['status']}  on {p['node']}" for p in bad]
    else:
        lines.append("Every pod is running.")
    lines.append(f"Overall: {'healthy' if healthy else 'NOT healthy'}")
    return "\n".join(lines)


def report(hosts, node_facts, *, nodes=None, pods=None, api_asked: bool = True, api_error: str = "",
           kubeconfig: str = "", controller_cert: str = "none", pending_ok: bool = False) -> dict:
    """The report: {rows, bad_pods, healthy, table}. hosts: the lab's nodes; node_facts: what each
    node's node.yml read, in the same order; nodes: the API server's Node objects, None when it was
    not asked (no kubeconfig on the controller: readiness and pods unchecked, not a finding) or did
    not answer (api_error: why, a finding)."""
    hosts = list(hosts or [])
    facts = list(node_facts or [])[:len(hosts)]
    facts += [{}] * (len(hosts) - len(facts))
    reachable = nodes is not None
    ready = {(n.get("metadata") or {}).get("name", ""): ready_status(n) for n in nodes or []}
    rows = [row(name, fact, ready.get(name, "?") if reachable else "n/a")
            for name, fact in zip(hosts, facts, strict=True)]
    bad = bad_pods(pods, pending_ok) if reachable else []
    if reachable:
        api_problem = None
    elif not api_asked:
        api_problem = f"no kubeconfig at {kubeconfig} on this machine"
    else:
        api_problem = f"the API server did not answer: {truncate(api_error or '')}"
    healthy = is_healthy(rows, controller_cert, reachable or not api_asked, bad)
    return {"rows": rows, "bad_pods": bad, "healthy": healthy,
            "table": render(rows, kubeconfig, controller_cert, api_problem, bad, healthy)}
