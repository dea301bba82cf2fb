#!/bin/sh
# Test double of the kubelet (no kubelet binary can be downloaded here). Like a kubelet that
# kubeadm has not configured yet, it does nothing useful; unlike one, it stays up instead of
# restarting in a loop, and records the boot it was started in (/run/kubelet_test_double.boot_id),
# so that tests can tell that systemd started it at boot.
cat /proc/sys/kernel/random/boot_id >/run/kubelet_test_double.boot_id
exec sleep infinity
