"""The offline bundle as site.yml installed it on every node, checked live: versions, the installed
files byte for byte, containerd's configuration, the images pinned, a container run by hand; then a
tampered copy of the bundle refused on a node before anything is replaced.

With the digest of SHA256SUMS pinned (bundle_install_sums_sha256), a copy whose changed file has a
matching line in its SHA256SUMS is refused on the node too, before anything is copied to it.

The nodes are podman containers: they read the controller's bundle where the provider mounted it,
read-only, and nothing is copied over SSH. The tampered copies above are copied to a worker as to a
VM (bundle_install_node_source: copy); the same tampering laid out on a worker as its mount would
show it (bundle_install_node_source: mounted) is refused the same way, a missing file too, and a
worker that sees another bundle than the controller's is refused before the gate.

Expected versions come from bundle/versions.yml (the pins the bundle is built from) and the release
the cluster was built at (cluster.RELEASE: the topology's, the previous minor), image names and
digests from the bundle's manifest.json, both read on the controller; the rest from the nodes. The
bundle carries two Kubernetes releases: the nodes have the binaries and kubeadm's images of theirs
only. Runs in the first verify only (conftest.py): what it proves does not change with a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml
from cluster import BUNDLE, MANIFEST, MASTER, NODES, PREFIX, RELEASE, ROOT, VERSIONS, WORKERS, node, playbook
from fixtures.tampered_bundle import tamper

from ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology import NODE_BUNDLE_DIR

SUMS = {
    path.lstrip("*"): digest
    for digest, path in (line.split(None, 1) for line in (BUNDLE / "SHA256SUMS").read_text().splitlines() if line)
}
ALL_IMAGES = {image["name"]: image for image in MANIFEST["images"]}
# The images of the nodes' release: what its `kubeadm config images list` names (kubernetes_versions),
# and the applications' (used_by metallb, monitoring). The other release's own are not imported.
IMAGES = {name: image for name, image in ALL_IMAGES.items()
          if image["used_by"] != "kubeadm" or RELEASE in image["kubernetes_versions"]}
KUBEADM_IMAGES = {name: image for name, image in IMAGES.items() if image["used_by"] == "kubeadm"}
OTHER_RELEASES_IMAGES = sorted(set(ALL_IMAGES) - set(IMAGES))
# What the lab's docker_bundle_images (inventory/group_vars/all.yml) leaves out on a worker: the
# control plane's own images. Every node gets the rest, MetalLB's included (its speaker runs on all).
CONTROL_PLANE_ONLY = re.compile(r"/(kube-apiserver|kube-controller-manager|kube-scheduler|etcd):")
PAUSE = next(name for name in IMAGES if re.search(r"/pause:", name))
SNAPSHOTTER = yaml.safe_load((ROOT / "roles/docker/defaults/main.yml").read_text())["docker_containerd_snapshotter"]

BIN = "/usr/local/bin"
SBIN = "/usr/local/sbin"
CNI_BIN = "/opt/cni/bin"
KUBE_BIN = "/usr/bin"
CNI_PLUGINS = sorted(Path(rel).name for rel in MANIFEST["files"] if rel.startswith("cni/bin/"))
# Where each file of the bundle is installed on a node (the roles' defaults).
INSTALLED = {
    f"{BIN}/containerd": "bin/containerd",
    f"{BIN}/containerd-shim-runc-v2": "bin/containerd-shim-runc-v2",
    f"{BIN}/ctr": "bin/ctr",
    f"{BIN}/crictl": "bin/crictl",
    f"{SBIN}/runc": "bin/runc",
    f"{KUBE_BIN}/kubeadm": f"kubernetes/{RELEASE}/bin/kubeadm",
    f"{KUBE_BIN}/kubelet": f"kubernetes/{RELEASE}/bin/kubelet",
    f"{KUBE_BIN}/kubectl": f"kubernetes/{RELEASE}/bin/kubectl",
    **{f"{CNI_BIN}/{name}": f"cni/bin/{name}" for name in CNI_PLUGINS},
}
CTR = f"{BIN}/ctr --namespace k8s.io"


# Replaces testinfra's host fixture in this file: every node of the topology, by podman exec.
@pytest.fixture(scope="module", params=sorted(NODES))
def host(request):
    return node(request.param)


def run_ok(host, command: str) -> str:
    result = host.run(command)
    assert result.rc == 0, f"{command}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def ctr_images(host) -> dict[str, tuple[str, list[str]]]:
    """containerd's k8s.io images: name -> (digest, labels). Columns: REF TYPE DIGEST SIZE PLATFORMS
    LABELS, where SIZE holds a space ("301.6 KiB") and LABELS comes last."""
    rows = [line.split() for line in run_ok(host, f"{CTR} images ls").splitlines()[1:] if line.strip()]
    return {row[0]: (row[2], row[-1].split(",")) for row in rows}


def installed_state(host) -> dict[str, str]:
    """path -> "sha256 mtime" of every installed file, in one command."""
    paths = " ".join(sorted(INSTALLED))
    sums = dict(reversed(line.split(None, 1)) for line in run_ok(host, f"sha256sum {paths}").splitlines())
    times = dict(line.split(None, 1)[::-1] for line in run_ok(host, f"stat --format '%Y %n' {paths}").splitlines())
    return {path: f"{sums[path]} {times[path]}" for path in INSTALLED}


# Versions: each installed binary reports the pinned version.


def test_containerd_version(host):
    assert run_ok(host, f"{BIN}/containerd --version").split()[2] == VERSIONS["containerd"]
    assert run_ok(host, f"{BIN}/ctr --version").split()[2] == VERSIONS["containerd"]
    assert f"Version:  {VERSIONS['containerd']}" in run_ok(host, f"{BIN}/containerd-shim-runc-v2 -v")


def test_runc_version_with_seccomp(host):
    lines = run_ok(host, f"{SBIN}/runc --version").splitlines()
    assert lines[0] == f"runc version {VERSIONS['runc'].removeprefix('v')}"
    assert [line for line in lines if re.fullmatch(r"libseccomp: \d+\.\d+\.\d+", line)], lines
    features = json.loads(run_ok(host, f"{SBIN}/runc features"))
    assert features["linux"]["seccomp"]["enabled"] is True


def test_runc_is_the_one_containerd_finds(host):
    # containerd's shim runs the first runc on systemd's PATH: the bundle's, not another.
    environment = run_ok(host, "systemctl show containerd --property Environment --value")
    path = dict(kv.split("=", 1) for kv in environment.split() if "=" in kv).get(
        "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    found = [f"{d}/runc" for d in path.split(":") if host.file(f"{d}/runc").exists]
    assert found and found[0] == f"{SBIN}/runc", found


def test_kubernetes_client_versions(host):
    assert run_ok(host, f"{BIN}/crictl --version").strip() == f"crictl version {VERSIONS['cri_tools']}"
    assert run_ok(host, f"{KUBE_BIN}/kubeadm version -o short").strip() == RELEASE
    assert run_ok(host, f"{KUBE_BIN}/kubelet --version").strip() == f"Kubernetes {RELEASE}"
    client = run_ok(host, f"{KUBE_BIN}/kubectl version --client").splitlines()
    assert f"Client Version: {RELEASE}" in client


def test_cni_plugin_versions(host):
    # Without CNI_COMMAND a plugin prints its name and version and exits.
    for plugin in CNI_PLUGINS:
        result = host.run(f"{CNI_BIN}/{plugin}")
        assert result.rc == 0, (plugin, result.stderr)
        assert f"CNI {plugin} plugin {VERSIONS['cni_plugins']}" in result.stdout + result.stderr


# The installed files are the bundle's, byte for byte.


def test_installed_files_match_the_bundle(host):
    state = installed_state(host)
    assert {path: value.split()[0] for path, value in state.items()} == {
        path: SUMS[rel] for path, rel in INSTALLED.items()
    }
    modes = run_ok(host, f"stat --format '%n %U %a %F' {' '.join(sorted(INSTALLED))}").splitlines()
    assert [line.split(None, 1)[1] for line in modes] == ["root 755 regular file"] * len(INSTALLED), modes


def test_no_docker_engine(host):
    assert not host.exists("dockerd")
    assert host.run("systemctl cat docker.service").rc != 0


# containerd: the bundle's unit, running, configured for kubeadm.


def test_containerd_runs_from_its_bundle_unit(host):
    unit = host.service("containerd")
    assert unit.is_running and unit.is_enabled
    show = run_ok(host, "systemctl show containerd --property FragmentPath,Type,Delegate,KillMode")
    assert dict(line.split("=", 1) for line in show.splitlines()) == {
        "FragmentPath": "/etc/systemd/system/containerd.service",
        "Type": "notify",
        "Delegate": "yes",
        "KillMode": "process",
    }
    assert f"path={BIN}/containerd " in run_ok(host, "systemctl show containerd --property ExecStart")


def test_containerd_live_config(host):
    # The role writes schema 3 for containerd 2.x; 2.3+ migrates it to 4 at startup (4 only moves
    # the top-level grpc/ttrpc/debug/metrics sections, which the role does not set).
    assert tomllib.loads(host.file("/etc/containerd/config.toml").content_string)["version"] == 3
    config = tomllib.loads(run_ok(host, f"{BIN}/containerd config dump"))
    assert config["version"] >= 3
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == PAUSE
    assert images["snapshotter"] == SNAPSHOTTER
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert runtime["cni"]["bin_dirs"] == [CNI_BIN]


def test_cri_answers_through_the_bundles_crictl(host):
    version = dict(
        line.split(":", 1) for line in run_ok(host, f"{BIN}/crictl version").splitlines() if ":" in line
    )
    assert version["RuntimeName"].strip() == "containerd"
    assert version["RuntimeVersion"].strip() == VERSIONS["containerd"]
    info = json.loads(run_ok(host, f"{BIN}/crictl info"))
    conditions = {c["type"]: c["status"] for c in info["status"]["conditions"]}
    assert conditions["RuntimeReady"] is True


# Images: imported under kubeadm's (and MetalLB's) names, with the manifest's digests, pinned.


def images_for(host) -> dict[str, dict]:
    """The bundle's images this node imports: all on the control plane, all but its own on a worker."""
    if NODES[host.backend.name.removeprefix(PREFIX)].role == "control_plane":
        return IMAGES
    return {name: image for name, image in IMAGES.items() if not CONTROL_PLANE_ONLY.search(name)}


def test_images_in_containerd_with_digest_and_pinned(host):
    wanted = images_for(host)
    assert {image["used_by"] for image in wanted.values()} == {"kubeadm", "metallb", "monitoring"}
    listed = ctr_images(host)
    for name, image in wanted.items():
        assert name in listed, f"{name} not in `ctr -n k8s.io images ls`: {sorted(listed)}"
        digest, labels = listed[name]
        assert digest == image["digest"], name
        assert "io.cri-containerd.pinned=pinned" in labels, (name, labels)
    images = json.loads(run_ok(host, f"{BIN}/crictl images --output json"))["images"]
    pinned = {tag for image in images if image.get("pinned") for tag in image.get("repoTags") or []}
    assert set(wanted) <= pinned, sorted(set(wanted) - pinned)


def test_images_are_what_the_installed_kubeadm_asks_for(host):
    wanted = run_ok(host, f"{KUBE_BIN}/kubeadm config images list --kubernetes-version {RELEASE}")
    assert sorted(wanted.split()) == sorted(KUBEADM_IMAGES)


def test_no_image_of_the_other_release(host):
    """The bundle's other release (the upgrade's target) stays in the bundle until the upgrade."""
    assert OTHER_RELEASES_IMAGES, "the bundle carries one release only"
    assert not set(OTHER_RELEASES_IMAGES) & set(ctr_images(host))


def test_container_runs_from_an_imported_image(host):
    # containerd, its shim and runc run pause's own binary from the imported image, outside the CRI.
    name = f"k8s-lab-test-{uuid.uuid4().hex[:8]}"
    out = run_ok(host, f"{CTR} run --rm --snapshotter {SNAPSHOTTER} {PAUSE} {name} /pause -v")
    assert out.strip() == f"pause.c v{PAUSE.rsplit(':', 1)[1]}"


def test_kubelet_unit_starts_the_bundles_kubelet(host):
    assert host.service("kubelet").is_enabled
    show = run_ok(host, "systemctl show kubelet --property FragmentPath,ExecStart")
    assert "FragmentPath=/etc/systemd/system/kubelet.service" in show
    assert f"path={KUBE_BIN}/kubelet " in show


# A tampered copy of the bundle, given to the docker role on a running worker: refused on the node
# by the checksum of the copy there, before anything is replaced or restarted.


def refused_run(bundle_dir, node_dir, *extra: str) -> str:
    """molecule/kubeadm/playbooks/tampered_bundle.yml on the first worker, from bundle_dir on the
    controller with the node's files at node_dir: its output on one line, after checking it failed."""
    run = playbook(
        str(ROOT / "molecule/kubeadm/playbooks/tampered_bundle.yml"),
        "-e", f"tampered_bundle_node={WORKERS[0]}",
        "-e", f"tampered_bundle_dir={bundle_dir}",
        "-e", f"tampered_bundle_node_dir={node_dir}",
        *extra,
    )
    output = " ".join(run.stdout.split())
    assert run.returncode != 0, output[-2000:]
    return output


def test_a_tampered_bundle_is_refused_on_the_node(tmp_path):
    tampered, worker = "bin/runc", node(WORKERS[0])
    assert WORKERS[0] != MASTER
    tamper(BUNDLE, tmp_path / "bundle", tampered)
    staging = "/var/lib/k8s-lab-test/tampered-bundle"
    before = installed_state(worker)
    containerd_pid = run_ok(worker, "systemctl show containerd --property MainPID --value").strip()

    output = refused_run(tmp_path / "bundle", staging)
    staged = worker.file(f"{staging}/{tampered}")
    assert staged.exists and staged.sha256sum != SUMS[tampered]
    # The gate's own message: the file, what SHA256SUMS says, what the node's copy hashes to.
    assert "SHA256SUMS mismatch" in output and "nothing installed" in output, output[-2000:]
    assert f"{tampered} (expected {SUMS[tampered]}, got {staged.sha256sum})" in output, output[-2000:]

    assert installed_state(worker) == before
    assert run_ok(worker, "systemctl show containerd --property MainPID --value").strip() == containerd_pid


def test_a_tampered_bundle_with_a_matching_line_is_refused_when_pinned(tmp_path):
    """The tampering SHA256SUMS cannot show (bin/runc changed, its line rewritten to match): refused by
    the pinned digest of SHA256SUMS, before a file is copied to the node."""
    tampered, worker = "bin/runc", node(WORKERS[0])
    tamper(BUNDLE, tmp_path / "bundle", tampered, matching_line=True)
    copied_sums = (tmp_path / "bundle" / "SHA256SUMS").read_text()
    assert f"{hashlib.sha256((tmp_path / 'bundle' / tampered).read_bytes()).hexdigest()}  {tampered}" in copied_sums
    pin = hashlib.sha256((BUNDLE / "SHA256SUMS").read_bytes()).hexdigest()
    staging = "/var/lib/k8s-lab-test/tampered-bundle-pinned"
    before = installed_state(worker)
    containerd_pid = run_ok(worker, "systemctl show containerd --property MainPID --value").strip()

    output = refused_run(tmp_path / "bundle", staging, "-e", f"bundle_install_sums_sha256={pin}")
    assert "is not the one pinned, nothing installed" in output, output[-2000:]
    digest = hashlib.sha256(copied_sums.encode()).hexdigest()
    assert f"its SHA256SUMS has sha256 {digest}, bundle_install_sums_sha256 says {pin}" in output, output[-2000:]
    assert not worker.file(staging).exists
    assert installed_state(worker) == before
    assert run_ok(worker, "systemctl show containerd --property MainPID --value").strip() == containerd_pid


# The bundle as the lab's podman nodes read it: the controller's, through a read-only mount.


def mount_options(host, path: str) -> list[str] | None:
    """The options of the mount at path in the node (/proc/self/mountinfo), None when none is there."""
    for line in run_ok(host, "cat /proc/self/mountinfo").splitlines():
        fields = line.split()
        if fields[4] == path:
            return fields[5].split(",")
    return None


def test_the_node_reads_the_controllers_bundle_from_a_read_only_mount(host):
    options = mount_options(host, NODE_BUNDLE_DIR)
    assert options is not None and "ro" in options, options
    node_sums = run_ok(host, f"sha256sum {NODE_BUNDLE_DIR}/SHA256SUMS").split()[0]
    assert node_sums == hashlib.sha256((BUNDLE / "SHA256SUMS").read_bytes()).hexdigest()
    assert host.run(f"touch {NODE_BUNDLE_DIR}/written-by-a-node").rc != 0
    # Nothing was copied to the node: it keeps no copies of its own (the docker role's default place).
    assert not host.file("/var/lib/k8s-lab/bundle").exists


# What a worker's mount would show of a tampered bundle, laid out on the worker: SHA256SUMS and
# manifest.json copied from its mount of the real bundle, every other file a link into that mount
# (read through it), the tampered file a copy with one byte changed (as fixtures/tampered_bundle.py
# changes it), a missing one left out; with matching_line, the tampered file's line rewritten.
LAY_OUT = """
import hashlib, os, shutil, sys
mount, view, tampered, missing, matching = sys.argv[1:6]
shutil.rmtree(view, ignore_errors=True)
os.makedirs(view)
sums = open(os.path.join(mount, "SHA256SUMS")).read().splitlines()
for rel in [line.split(None, 1)[1].lstrip("*") for line in sums if line]:
    if rel == missing:
        continue
    os.makedirs(os.path.dirname(os.path.join(view, rel)), exist_ok=True)
    if rel == tampered:
        data = bytearray(open(os.path.join(mount, rel), "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(os.path.join(view, rel), "wb").write(bytes(data))
    elif rel != "manifest.json":
        os.symlink(os.path.join(mount, rel), os.path.join(view, rel))
shutil.copyfile(os.path.join(mount, "manifest.json"), os.path.join(view, "manifest.json"))
if matching == "yes":
    digest = hashlib.sha256(open(os.path.join(view, tampered), "rb").read()).hexdigest()
    sums = [digest + "  " + tampered if line.split(None, 1)[1].lstrip("*") == tampered else line
            for line in sums if line]
open(os.path.join(view, "SHA256SUMS"), "w").write("\\n".join(sums) + "\\n")
"""


def lay_out(worker, view: str, tampered: str = "-", missing: str = "-", matching_line: bool = False) -> None:
    script = base64.b64encode(LAY_OUT.encode()).decode()
    run_ok(worker, f"echo {script} | base64 -d | python3 - {NODE_BUNDLE_DIR} {view} {tampered} {missing} "
                   f"{'yes' if matching_line else 'no'}")


def refused_in_place(worker, view: str):
    """The docker role run on the worker reading the bundle at view in place: its output, after
    checking that nothing was installed or restarted."""
    before = installed_state(worker)
    containerd_pid = run_ok(worker, "systemctl show containerd --property MainPID --value").strip()
    output = refused_run(BUNDLE, view, "-e", "tampered_bundle_source=mounted")
    assert installed_state(worker) == before
    assert run_ok(worker, "systemctl show containerd --property MainPID --value").strip() == containerd_pid
    return output


@pytest.fixture
def view():
    worker, path = node(WORKERS[0]), "/var/lib/k8s-lab-test/mounted-view"
    yield path
    run_ok(worker, f"rm -rf {path}")


def test_a_tampered_file_in_the_mounted_bundle_is_refused_on_the_node(view):
    tampered, worker = "bin/runc", node(WORKERS[0])
    lay_out(worker, view, tampered=tampered)
    seen = worker.file(f"{view}/{tampered}").sha256sum
    assert seen != SUMS[tampered]
    output = refused_in_place(worker, view)
    assert "SHA256SUMS mismatch" in output and "nothing installed" in output, output[-2000:]
    assert f"{tampered} (expected {SUMS[tampered]}, got {seen})" in output, output[-2000:]
    # Only the tampered file: the others, read through the mount, match.
    others = [rel for rel in INSTALLED.values() if rel != tampered and rel.startswith(("bin/", "cni/"))]
    assert [rel for rel in others if f"{rel} (expected" in output] == [], output[-2000:]


def test_a_file_missing_from_the_mounted_bundle_is_refused_on_the_node(view):
    missing, worker = "bin/runc", node(WORKERS[0])
    lay_out(worker, view, missing=missing)
    output = refused_in_place(worker, view)
    assert f"{missing} (expected {SUMS[missing]}, got no file)" in output, output[-2000:]


def test_a_node_that_sees_another_bundle_is_refused_before_the_gate(view):
    worker = node(WORKERS[0])
    lay_out(worker, view, tampered="bin/runc", matching_line=True)
    seen = worker.file(f"{view}/SHA256SUMS").sha256sum
    controller = hashlib.sha256((BUNDLE / "SHA256SUMS").read_bytes()).hexdigest()
    output = refused_in_place(worker, view)
    assert f"does not see the bundle at {BUNDLE} at {view}, nothing installed" in output, output[-2000:]
    assert f"has sha256 {seen}, the SHA256SUMS on the controller has sha256 {controller}" in output, output[-2000:]
    assert "SHA256SUMS mismatch" not in output
