#!/usr/bin/python3
"""TEST DOUBLE of kubectl for the molecule/kubeadm scenario: there is no real API server."""

import sys

if sys.argv[1:2] == ["version"] and "--client" in sys.argv:
    print("Client Version: v1.37.0")
    sys.exit(0)
sys.stderr.write("kubectl test double: only `kubectl version --client` is supported\n")
sys.exit(1)
