#!/usr/bin/python3
"""TEST DOUBLE of the kubelet for the molecule/kubeadm scenario. It is not the kubelet.

It records the flags systemd started it with (unit + kubeadm drop-in + /etc/default/kubelet),
then, like the real kubelet, exits when kubeadm has not written its config yet (systemd
restarts it every 10 s) and otherwise stays up without doing anything.
"""

import json
import os
import signal
import sys

if sys.argv[1:] in (["--version"], ["version"]):
    print("Kubernetes v1.37.0")
    sys.exit(0)

with open("/var/log/kubelet-test-double.json", "w", encoding="utf-8") as handle:
    json.dump({"argv": sys.argv[1:], "pid": os.getpid()}, handle)

config = next((arg.split("=", 1)[1] for arg in sys.argv[1:] if arg.startswith("--config=")), None)
if not config or not os.path.exists(config):
    sys.stderr.write(f"failed to load kubelet config file, path: {config}: no such file or directory\n")
    sys.exit(1)
signal.pause()
