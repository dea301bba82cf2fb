#!/usr/bin/python3
"""TEST DOUBLE of kubeadm for the molecule/kubeadm scenario. It is not kubeadm.

Real kubeadm, kubelet and Kubernetes images cannot be downloaded where the tests run, so this
script honours the part of kubeadm's contract the roles rely on, for real where it matters:

- `version -o short` prints the version.
- `init --config FILE` refuses an initialised node, writes a real CA (openssl), an API server
  certificate, /etc/kubernetes/admin.conf and the kubelet's files, creates the bootstrap token
  of the config and starts a kube-apiserver test double that serves the cluster-info ConfigMap
  (CA and a JWS signature per token, as kube-apiserver does) on the advertised address.
- `token list -o json`, `token create [--ttl D] [--description S] [--print-join-command]`.
- `join --config FILE` refuses a joined node, fetches cluster-info from the endpoint, checks
  the token's JWS signature and the CA against the pins (refusing the unsafe skip), then writes
  /etc/kubernetes/kubelet.conf and the kubelet's files.

Every call is appended to /var/log/kubeadm-test-double.log as JSON (argv and config text).
"""

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import ssl
import string
import subprocess
import sys
import tempfile
import urllib.request

VERSION = "v1.37.0"
LOG = "/var/log/kubeadm-test-double.log"
STATE = "/var/lib/kubeadm-test-double/tokens.json"
K8S = "/etc/kubernetes"
PKI = K8S + "/pki"
ADMIN_CONF = K8S + "/admin.conf"
KUBELET_CONF = K8S + "/kubelet.conf"
KUBELET_DIR = "/var/lib/kubelet"
APISERVER_CONF = "/var/lib/kubeadm-test-double/apiserver.json"
APISERVER_UNIT = "/etc/systemd/system/kube-apiserver-test-double.service"
NODE_GROUP = "system:bootstrappers:kubeadm:default-node-token"


def log(config_text=None):
    entry = {"argv": sys.argv[1:], "time": now().isoformat()}
    if config_text is not None:
        entry["config"] = config_text
    os.makedirs(os.path.dirname(LOG), exist_ok=True)
    with open(LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def now():
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def fail(message, code=1):
    sys.stderr.write(message + "\n")
    sys.exit(code)


def option(args, name, default=None):
    """Value of --name VALUE or --name=VALUE."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def write(path, content, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(path, mode)


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def b64(data):
    return base64.b64encode(data).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def kubeconfig(server, ca_pem, user=None, cert=None, key=None):
    text = (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {b64(ca_pem)}\n    server: {server}\n  name: kubernetes\n"
    )
    if user:
        text += (
            f"contexts:\n- context:\n    cluster: kubernetes\n    user: {user}\n  name: {user}@kubernetes\n"
            f"current-context: {user}@kubernetes\nusers:\n- name: {user}\n  user:\n"
            f"    client-certificate-data: {b64(cert)}\n    client-key-data: {b64(key)}\n"
        )
    return text


def ca_pin(pem):
    """sha256 of the DER SubjectPublicKeyInfo, via openssl (RSA and EC alike)."""
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=pem, capture_output=True, check=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub.stdout,
                         capture_output=True, check=True)
    return "sha256:" + hashlib.sha256(der.stdout).hexdigest()


# --- tokens -----------------------------------------------------------------------------------

def load_tokens():
    try:
        with open(STATE, encoding="utf-8") as handle:
            tokens = json.load(handle)
    except FileNotFoundError:
        return []
    # Like the token cleaner of kube-controller-manager: expired tokens disappear.
    return [t for t in tokens if not t.get("expires") or dt.datetime.fromisoformat(t["expires"]) > now()]


def save_tokens(tokens):
    write(STATE, json.dumps(tokens, indent=2), 0o600)


def parse_duration(text):
    match = re.match(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$", text or "")
    if not text or not match:
        fail(f"invalid duration {text!r}")
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def new_token(ttl, description, usages=("authentication", "signing"), groups=(NODE_GROUP,)):
    alphabet = string.ascii_lowercase + string.digits
    token = "".join(secrets.choice(alphabet) for _ in range(6)) + "." + \
        "".join(secrets.choice(alphabet) for _ in range(16))
    item = {"token": token, "description": description, "usages": list(usages), "groups": list(groups)}
    if ttl.total_seconds() > 0:
        item["expires"] = (now() + ttl).isoformat()
    tokens = load_tokens()
    tokens.append(item)
    save_tokens(tokens)
    return token


def require_admin():
    if not os.path.exists(ADMIN_CONF):
        fail("failed to load admin kubeconfig: open /etc/kubernetes/admin.conf: no such file or directory")


def cmd_token(args):
    require_admin()
    if not args:
        fail("token: missing subcommand")
    if args[0] == "list":
        for item in load_tokens():
            expires = item.get("expires")
            out = {
                "kind": "BootstrapToken",
                "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
                "creationTimestamp": None,
                "token": item["token"],
                "description": item.get("description", ""),
                "usages": item["usages"],
                "groups": item["groups"],
            }
            if expires:
                out["expires"] = dt.datetime.fromisoformat(expires).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(json.dumps(out, indent=4))
        return
    if args[0] == "create":
        token = new_token(parse_duration(option(args, "--ttl", "24h0m0s")), option(args, "--description", ""))
        if "--print-join-command" in args:
            with open(APISERVER_CONF, encoding="utf-8") as handle:
                endpoint = json.load(handle)["endpoint"]
            with open(PKI + "/ca.crt", "rb") as handle:
                pin = ca_pin(handle.read())
            print(f"kubeadm join {endpoint} --token {token} --discovery-token-ca-cert-hash {pin} ")
        else:
            print(token)
        return
    fail(f"token: unsupported subcommand {args[0]!r} (test double)")


# --- init ---------------------------------------------------------------------------------------

def yaml_value(text, key):
    match = re.search(rf"^\s*{key}:\s*\"?([^\"\s#]+)\"?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def kubelet_files(node_ip_source):
    """What kubeadm's kubelet-start phase writes, then the kubelet (re)start."""
    write(KUBELET_DIR + "/config.yaml",
          "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n")
    flags = "--container-runtime-endpoint=unix:///run/containerd/containerd.sock"
    if node_ip_source:
        flags += f" --node-ip={node_ip_source}"
    write(KUBELET_DIR + "/kubeadm-flags.env", f'KUBELET_KUBEADM_ARGS="{flags}"\n')
    subprocess.run(["systemctl", "restart", "kubelet"], check=True)


def cmd_init(args):
    path = option(args, "--config")
    if not path:
        fail("test double: init needs --config")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    log(text)
    if os.path.exists(ADMIN_CONF) or os.path.exists(K8S + "/manifests/kube-apiserver.yaml"):
        fail("[preflight] Some fatal errors occurred:\n\t[ERROR FileAvailable--etc-kubernetes-admin.conf]: "
             "/etc/kubernetes/admin.conf already exists")
    for needed in ("apiVersion: kubeadm.k8s.io/v1beta4", "kind: InitConfiguration", "kind: ClusterConfiguration"):
        if needed not in text:
            fail(f"test double: the config lacks {needed!r}")
    address = yaml_value(text, "advertiseAddress")
    port = yaml_value(text, "bindPort") or "6443"
    version = yaml_value(text, "kubernetesVersion")
    if version != VERSION:
        fail(f"test double: kubernetesVersion {version!r} differs from this kubeadm {VERSION}")
    endpoint = yaml_value(text, "controlPlaneEndpoint") or f"{address}:{port}"
    ttl_text = yaml_value(text, "ttl") or "24h0m0s"

    os.makedirs(PKI, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # kubeadm's default: RSA 2048, CN=kubernetes, 10 years.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=kubernetes",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", PKI + "/ca.key", "-out", PKI + "/ca.crt")
        sans = f"subjectAltName=IP:{address},DNS:kubernetes,DNS:kubernetes.default,IP:127.0.0.1"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver", "-keyout",
                PKI + "/apiserver.key", "-out", tmp + "/apiserver.csr")
        with open(tmp + "/ext", "w", encoding="utf-8") as handle:
            handle.write(sans + "\n")
        openssl("x509", "-req", "-in", tmp + "/apiserver.csr", "-CA", PKI + "/ca.crt", "-CAkey", PKI + "/ca.key",
                "-CAcreateserial", "-days", "365", "-extfile", tmp + "/ext", "-out", PKI + "/apiserver.crt")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/O=kubeadm:cluster-admins/CN=kubernetes-admin",
                "-keyout", tmp + "/admin.key", "-out", tmp + "/admin.csr")
        openssl("x509", "-req", "-in", tmp + "/admin.csr", "-CA", PKI + "/ca.crt", "-CAkey", PKI + "/ca.key",
                "-CAcreateserial", "-days", "365", "-out", tmp + "/admin.crt")
        with open(tmp + "/admin.crt", "rb") as cert, open(tmp + "/admin.key", "rb") as key, \
                open(PKI + "/ca.crt", "rb") as ca:
            ca_pem, admin_cert, admin_key = ca.read(), cert.read(), key.read()
    os.chmod(PKI + "/ca.key", 0o600)
    os.chmod(PKI + "/apiserver.key", 0o600)
    server = f"https://{endpoint}"
    write(ADMIN_CONF, kubeconfig(server, ca_pem, "kubernetes-admin", admin_cert, admin_key), 0o600)
    write(KUBELET_CONF, kubeconfig(server, ca_pem), 0o600)
    write(K8S + "/manifests/kube-apiserver.yaml", "# written by the kubeadm test double\n", 0o600)
    write(APISERVER_CONF, json.dumps({"address": address, "port": int(port), "endpoint": endpoint}))
    new_token(parse_duration(ttl_text), "k8s-lab: created by kubeadm init (test double)")

    write(APISERVER_UNIT, (
        "[Unit]\nDescription=kube-apiserver TEST DOUBLE (cluster-info only)\nAfter=network-online.target\n\n"
        f"[Service]\nExecStart=/usr/bin/python3 {os.path.realpath(sys.argv[0])} test-double-apiserver\n"
        "Restart=always\nRestartSec=2\n\n[Install]\nWantedBy=multi-user.target\n"
    ))
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "enable", "--now", "kube-apiserver-test-double.service"], check=True)
    kubelet_files(None)
    print("Your Kubernetes control-plane has initialized successfully! (test double)")


# --- the kube-apiserver test double -----------------------------------------------------------

def cluster_info():
    with open(APISERVER_CONF, encoding="utf-8") as handle:
        endpoint = json.load(handle)["endpoint"]
    with open(PKI + "/ca.crt", "rb") as handle:
        payload = kubeconfig(f"https://{endpoint}", handle.read())
    data = {"kubeconfig": payload}
    for item in load_tokens():
        if "signing" not in item["usages"]:
            continue
        token_id, secret = item["token"].split(".")
        header = b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
        signing_input = header + "." + b64url(payload.encode())
        signature = b64url(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())
        # Detached JWS, as the bootstrap signer stores it.
        data[f"jws-kubeconfig-{token_id}"] = f"{header}..{signature}"
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": data}


class ApiHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] == "/api/v1/namespaces/kube-public/configmaps/cluster-info":
            body, code = json.dumps(cluster_info()).encode(), 200
        else:
            body, code = b'{"kind":"Status","status":"Failure","reason":"Forbidden","code":403}', 403
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def cmd_apiserver():
    with open(APISERVER_CONF, encoding="utf-8") as handle:
        conf = json.load(handle)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(PKI + "/apiserver.crt", PKI + "/apiserver.key")
    server = http.server.ThreadingHTTPServer(("0.0.0.0", conf["port"]), ApiHandler)  # noqa: S104
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


# --- join ---------------------------------------------------------------------------------------

def cmd_join(args):
    if UNSAFE in " ".join(args):
        log()
        fail("test double: refusing --discovery-token-unsafe-skip-ca-verification")
    path = option(args, "--config")
    if not path:
        log()
        fail("test double: join needs --config")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    log(text)
    if os.path.exists(KUBELET_CONF):
        fail("[preflight] Some fatal errors occurred:\n\t[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: "
             "/etc/kubernetes/kubelet.conf already exists")
    config = json.loads(text)
    if config.get("apiVersion") != "kubeadm.k8s.io/v1beta4" or config.get("kind") != "JoinConfiguration":
        fail("test double: expected a kubeadm.k8s.io/v1beta4 JoinConfiguration")
    bootstrap = config["discovery"]["bootstrapToken"]
    if bootstrap.get("unsafeSkipCAVerification"):
        fail("test double: refusing unsafeSkipCAVerification")
    endpoint, token, pins = bootstrap["apiServerEndpoint"], bootstrap["token"], bootstrap.get("caCertHashes") or []
    token_id, secret = token.split(".")

    # As kubeadm: fetch cluster-info without trusting the server yet, then verify.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://{endpoint}/api/v1/namespaces/kube-public/configmaps/cluster-info"
    with urllib.request.urlopen(url, context=context, timeout=30) as answer:
        data = json.load(answer)["data"]
    payload = data["kubeconfig"]
    jws = data.get(f"jws-kubeconfig-{token_id}")
    if not jws:
        fail(f"there is no JWS signed token in the cluster-info ConfigMap for token ID {token_id!r}")
    header, _, signature = jws.split(".")
    expected = b64url(hmac.new(secret.encode(), (header + "." + b64url(payload.encode())).encode(),
                               hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        fail("failed to verify JWS signature of received cluster info object, can't trust this API Server")
    ca_pem = base64.b64decode(re.search(r"certificate-authority-data:\s*(\S+)", payload).group(1))
    actual = ca_pin(ca_pem)
    if actual not in pins:
        fail(f"cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "
             f"\"{actual}\" are pinned")
    server = re.search(r"server:\s*(\S+)", payload).group(1)
    write(PKI + "/ca.crt", ca_pem.decode())
    write(KUBELET_CONF, kubeconfig(server, ca_pem), 0o600)
    node_ip = next((a["value"] for a in config.get("nodeRegistration", {}).get("kubeletExtraArgs", [])
                    if a.get("name") == "node-ip"), None)
    kubelet_files(node_ip)
    print("This node has joined the cluster (test double)")


UNSAFE = "--discovery-token-unsafe-skip-ca-verification"


def main():
    args = sys.argv[1:]
    if not args:
        fail("usage: kubeadm COMMAND (test double)")
    command, rest = args[0], args[1:]
    if command == "version":
        log()
        print(VERSION if "short" in rest else json.dumps({"clientVersion": {"gitVersion": VERSION}}))
    elif command == "init":
        cmd_init(rest)
    elif command == "join":
        cmd_join(rest)
    elif command == "token":
        log()
        cmd_token(rest)
    elif command == "test-double-apiserver":
        cmd_apiserver()
    else:
        log()
        fail(f"test double: unsupported command {command!r}")


if __name__ == "__main__":
    main()
