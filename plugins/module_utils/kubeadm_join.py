"""Logic of the kubeadm_join module: validation, the already-joined decision, the join itself.

The module joins with `kubeadm join --config FILE` rather than flags: kubeadm has no flag for the
kubelet's node IP, and a config file keeps the bootstrap token out of the process list. The file
lives in a private temporary directory for the duration of the command only.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import (
    CA_CERT_HASH_RE,
    TOKEN_RE,
    CertificateError,
    ca_cert_hash,
)

HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
NODE_NAME_RE = HOSTNAME_RE
MASK = "<masked>"
JOIN_API_VERSION = "kubeadm.k8s.io/v1beta4"
# kubeadm refuses most flags next to --config; these are the ones it accepts (kubeadm's
# ValidateMixedArguments: the skip-* flags plus a short list).
ALLOWED_EXTRA_FLAGS = ("ignore-preflight-errors", "v", "dry-run", "rootfs", "log-file")
ALLOWED_EXTRA_PREFIX = "skip-"
UNSAFE_FLAG = "discovery-token-unsafe-skip-ca-verification"
MIN_TIMEOUT = 10
MAX_TIMEOUT = 3600
# The command gets this long beyond kubeadm's own discovery and TLS-bootstrap timeouts (which run
# one after the other) to report them.
PROCESS_GRACE_SECONDS = 60
# What a failed or cut-off join leaves next to the kubelet kubeconfig; any of them makes the next
# `kubeadm join` stop at its preflight, so such a node is reset first.
HALF_JOINED_LEFTOVERS = ("bootstrap-kubelet.conf", "pki/ca.crt")
RESET_TIMEOUT_SECONDS = 120

ARGUMENT_SPEC = {
    "api_server_endpoint": {"type": "str", "required": True},
    "token": {"type": "str", "required": True, "no_log": True},
    "ca_cert_hashes": {"type": "list", "elements": "str", "required": True},
    "node_name": {"type": "str"},
    "node_ip": {"type": "str"},
    "cri_socket": {"type": "str", "default": "unix:///run/containerd/containerd.sock"},
    "extra_args": {"type": "list", "elements": "str", "default": []},
    "timeout": {"type": "int", "default": 300},
    "kubeadm_path": {"type": "path"},
    "kubelet_kubeconfig": {"type": "path", "default": "/etc/kubernetes/kubelet.conf"},
}


def validate_endpoint(endpoint: str) -> str | None:
    """Return an error message for a bad host:port endpoint, None when it is fine."""
    match = re.match(r"^(?:\[(?P<ipv6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$", endpoint or "")
    if not match:
        return f"api_server_endpoint must be host:port (e.g. 192.168.1.10:6443), got {endpoint!r}"
    port = int(match.group("port"))
    if not 1 <= port <= 65535:
        return f"api_server_endpoint port must be 1-65535, got {port}"
    if match.group("ipv6"):
        try:
            ipaddress.IPv6Address(match.group("ipv6"))
        except ValueError:
            return f"api_server_endpoint has an invalid IPv6 address: {match.group('ipv6')!r}"
        return None
    host = match.group("host")
    if re.match(r"^[0-9.]+$", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"api_server_endpoint has an invalid IPv4 address: {host!r}"
        return None
    if not HOSTNAME_RE.match(host.lower()):
        return f"api_server_endpoint has an invalid host name: {host!r}"
    return None


def validate_extra_arg(arg: str) -> str | None:
    """Return an error message for an extra argument kubeadm would refuse next to --config."""
    if not arg.startswith("--"):
        return f"extra_args items must be --flag or --flag=value, got {arg!r}"
    name = arg[2:].split("=", 1)[0]
    if name == UNSAFE_FLAG:
        return f"extra_args must not contain --{UNSAFE_FLAG}: the CA is always verified against its pin"
    if name in ALLOWED_EXTRA_FLAGS or name.startswith(ALLOWED_EXTRA_PREFIX):
        return None
    return (
        f"extra_args: --{name} cannot be combined with kubeadm join --config; allowed are "
        + ", ".join(f"--{flag}" for flag in ALLOWED_EXTRA_FLAGS) + " and --skip-*"
    )


def validate_params(params: dict) -> list[str]:
    """Return one message per invalid argument (empty when all are valid)."""
    errors = []
    error = validate_endpoint(params.get("api_server_endpoint") or "")
    if error:
        errors.append(error)
    # The message never contains the token itself.
    if not TOKEN_RE.match(params.get("token") or ""):
        errors.append(f"token must match {TOKEN_RE.pattern} (as printed by kubeadm token create)")
    hashes = params.get("ca_cert_hashes") or []
    if not hashes:
        errors.append("ca_cert_hashes must name at least one CA pin: joining without one is unsafe")
    for value in hashes:
        if not CA_CERT_HASH_RE.match(value or ""):
            errors.append(f"ca_cert_hashes items must match {CA_CERT_HASH_RE.pattern}, got {value!r}")
    node_name = params.get("node_name")
    if node_name is not None and not NODE_NAME_RE.match(node_name):
        errors.append(f"node_name must be a lowercase DNS subdomain name, got {node_name!r}")
    node_ip = params.get("node_ip")
    if node_ip is not None:
        try:
            ipaddress.ip_address(node_ip)
        except ValueError:
            errors.append(f"node_ip must be an IP address, got {node_ip!r}")
    cri_socket = params.get("cri_socket")
    if cri_socket is not None and not re.match(r"^unix:///\S+$", cri_socket):
        errors.append(f"cri_socket must be a unix:/// URL, got {cri_socket!r}")
    for arg in params.get("extra_args") or []:
        error = validate_extra_arg(arg)
        if error:
            errors.append(error)
    timeout = params.get("timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        errors.append(f"timeout must be {MIN_TIMEOUT}-{MAX_TIMEOUT} seconds, got {timeout!r}")
    return errors


def mask(value, secrets):
    """Return value with every secret replaced by a mask, through nested dicts and lists."""
    secrets = [s for s in secrets if s]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, list):
        return [mask(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(mask(item, secrets) for item in value)
    if isinstance(value, dict):
        return {key: mask(item, secrets) for key, item in value.items()}
    return value


def token_secrets(token: str) -> list[str]:
    """The strings that must never be shown: the token and its secret half."""
    if not token:
        return []
    parts = token.split(".", 1)
    return [token] + ([parts[1]] if len(parts) == 2 and parts[1] else [])


def _kubeconfig_value(text: str, key: str) -> str | None:
    match = re.search(rf"^\s*{re.escape(key)}:\s*['\"]?([^'\"\s]+)['\"]?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def endpoint_of(server_url: str) -> str:
    """host:port of an https:// server URL (port 443 when the URL names none)."""
    parts = urlsplit(server_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or 443}"


@dataclass
class ExistingCluster:
    """The cluster a node's kubelet kubeconfig points at."""

    server: str | None
    ca_cert_hash: str | None
    problem: str | None = None


def read_existing_cluster(kubeconfig_text: str, read_file) -> ExistingCluster:
    """Server URL and CA pin of the (kubeadm-written) kubelet kubeconfig."""
    server = _kubeconfig_value(kubeconfig_text, "server")
    ca_data = _kubeconfig_value(kubeconfig_text, "certificate-authority-data")
    try:
        if ca_data:
            pem = base64.b64decode(ca_data, validate=True)
        else:
            ca_path = _kubeconfig_value(kubeconfig_text, "certificate-authority")
            if not ca_path:
                return ExistingCluster(server, None, "it names no certificate authority")
            pem = read_file(ca_path)
        return ExistingCluster(server, ca_cert_hash(pem))
    except (binascii.Error, CertificateError, OSError) as exc:
        return ExistingCluster(server, None, f"its certificate authority cannot be read ({exc})")


def membership_problem(existing: ExistingCluster, endpoint: str, hashes: list[str]) -> str | None:
    """Why an already-joined node does not belong to the cluster described, None when it does."""
    problems = []
    if existing.problem:
        problems.append(existing.problem)
    if existing.server is None:
        problems.append("it names no API server")
    elif endpoint_of(existing.server) != endpoint:
        problems.append(f"its API server is {existing.server}, not https://{endpoint}")
    if existing.ca_cert_hash is not None and existing.ca_cert_hash not in hashes:
        problems.append(f"its cluster CA is {existing.ca_cert_hash}, not one of {', '.join(hashes)}")
    return "; ".join(problems) or None


def build_join_configuration(params: dict) -> dict:
    """The JoinConfiguration (kubeadm.k8s.io/v1beta4) for the arguments."""
    timeout = f"{params['timeout']}s"
    registration = {"criSocket": params["cri_socket"]}
    if params.get("node_name"):
        registration["name"] = params["node_name"]
    if params.get("node_ip"):
        registration["kubeletExtraArgs"] = [{"name": "node-ip", "value": params["node_ip"]}]
    return {
        "apiVersion": JOIN_API_VERSION,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": params["api_server_endpoint"],
                "token": params["token"],
                "caCertHashes": list(params["ca_cert_hashes"]),
            },
            "tlsBootstrapToken": params["token"],
        },
        "nodeRegistration": registration,
        "timeouts": {"discovery": timeout, "tlsBootstrap": timeout},
    }


def process_timeout(params: dict) -> int:
    """Seconds the join command may run: discovery, then TLS bootstrap, then the grace to report."""
    return 2 * params["timeout"] + PROCESS_GRACE_SECONDS


def leftovers(kubeconfig: str, exists=os.path.exists) -> list[str]:
    """Files a failed join left beside the (missing) kubelet kubeconfig."""
    base = os.path.dirname(kubeconfig)
    return [os.path.join(base, name) for name in HALF_JOINED_LEFTOVERS if exists(os.path.join(base, name))]


def last_line(text: str) -> str:
    """The line of kubeadm's output that says why it failed: its last "error..." line (kubeadm ends
    with a hint about --v=5 after it), else the last line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or [""])[-1]


def subprocess_runner(cmd: list[str], timeout: int) -> tuple[int | None, str, str]:
    """Run cmd; rc None means it was stopped after timeout seconds."""
    env = dict(os.environ, LANG="C", LC_ALL="C")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        def text(value):
            return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
        return None, text(exc.stdout), text(exc.stderr)
    return done.returncode, done.stdout, done.stderr


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def execute(params: dict, check_mode: bool = False, runner=subprocess_runner, read_file=_read_bytes,
            clock=time.monotonic, exists=os.path.exists) -> tuple[bool, dict]:
    """Join the node unless it already is; return (failed, result)."""
    secrets = token_secrets(params.get("token") or "")
    errors = validate_params(params)
    if errors:
        return True, mask({"changed": False, "msg": "invalid arguments: " + "; ".join(errors)}, secrets)

    endpoint = params["api_server_endpoint"]
    hashes = list(params["ca_cert_hashes"])
    config = build_join_configuration(params)
    cmd = [params.get("kubeadm_path") or "kubeadm", "join", "--config", "<temporary file>"]
    cmd += list(params.get("extra_args") or [])
    result = {
        "changed": False,
        "cmd": cmd,
        "stdout": "",
        "stderr": "",
        "duration": 0.0,
        "join_configuration": config,
    }

    kubeconfig = params["kubelet_kubeconfig"]
    try:
        existing_text = read_file(kubeconfig).decode("utf-8", errors="replace")
    except FileNotFoundError:
        existing_text = None
    except OSError as exc:
        result["msg"] = f"cannot read {kubeconfig}: {exc}"
        return True, mask(result, secrets)

    if existing_text is not None:
        existing = read_existing_cluster(existing_text, read_file)
        result["cluster"] = {"server": existing.server, "ca_cert_hash": existing.ca_cert_hash}
        problem = membership_problem(existing, endpoint, hashes)
        if problem:
            result["state"] = "member_of_other_cluster"
            result["msg"] = (
                f"this node already joined a cluster ({kubeconfig} exists) but not the one asked for: "
                f"{problem}. Refusing to re-join; run 'kubeadm reset' on the node first if it should move."
            )
            return True, mask(result, secrets)
        result["state"] = "joined"
        result["msg"] = f"already joined to https://{endpoint} ({kubeconfig} exists)"
        return False, mask(result, secrets)

    result["changed"] = True
    stale = leftovers(kubeconfig, exists)
    if stale:
        result["reset"] = stale
    if check_mode:
        result["state"] = "would_join"
        result["msg"] = f"would {'reset the half-joined node and ' if stale else ''}join https://{endpoint}"
        return False, mask(result, secrets)

    if stale:
        kubeadm = params.get("kubeadm_path") or "kubeadm"
        rc, stdout, stderr = runner([kubeadm, "reset", "--force"], RESET_TIMEOUT_SECONDS)
        if rc != 0:
            result.update(stdout=stdout, stderr=stderr, state="failed")
            result["msg"] = (f"the node is half-joined ({', '.join(stale)} exist without {kubeconfig}) and "
                             f"kubeadm reset failed: {last_line(stderr) or 'no output'}")
            return True, mask(result, secrets)

    workdir = tempfile.mkdtemp(prefix="kubeadm-join-")
    try:
        path = os.path.join(workdir, "join-configuration.json")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(config, handle, indent=2)
        real_cmd = [*cmd[:3], path, *cmd[4:]]
        started = clock()
        rc, stdout, stderr = runner(real_cmd, process_timeout(params))
        result["duration"] = round(clock() - started, 3)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # Ansible reads any non-zero rc as a failure, so rc is only returned once kubeadm ran.
    result.update(stdout=stdout, stderr=stderr)
    if rc is not None:
        result["rc"] = rc
    if rc is None:
        result["state"] = "timed_out"
        result["msg"] = f"kubeadm join did not finish within {process_timeout(params)}s"
        return True, mask(result, secrets)
    if rc != 0:
        result["state"] = "failed"
        result["msg"] = f"kubeadm join failed with rc {rc}: {last_line(stderr) or last_line(stdout) or 'no output'}"
        return True, mask(result, secrets)
    result["state"] = "joined"
    result["msg"] = f"joined https://{endpoint}" + (" after resetting a half-joined node" if stale else "")
    return False, mask(result, secrets)
