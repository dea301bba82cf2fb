"""SHA256SUMS over a bundle: what verification accepts and what it refuses."""

import hashlib

import pytest
from bundler.checksums import ChecksumError, parse_sums, sums_digest, upstream_digest, verify_tree, write_sums

import bundle


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kubeadm").write_bytes(b"kubeadm binary")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "pause.tar").write_bytes(b"pause image")
    write_sums(tmp_path)
    return tmp_path


def test_a_written_tree_verifies(tree):
    sums = verify_tree(tree)
    assert sums == {
        "bin/kubeadm": hashlib.sha256(b"kubeadm binary").hexdigest(),
        "images/pause.tar": hashlib.sha256(b"pause image").hexdigest(),
    }


def test_a_changed_byte_is_refused_and_named(tree):
    (tree / "bin" / "kubeadm").write_bytes(b"kubeadm binarY")
    with pytest.raises(ChecksumError, match=r"checksum mismatch: bin/kubeadm"):
        verify_tree(tree)


def test_a_missing_file_is_refused(tree):
    (tree / "images" / "pause.tar").unlink()
    with pytest.raises(ChecksumError, match=r"missing: images/pause\.tar"):
        verify_tree(tree)


def test_an_unlisted_file_is_refused(tree):
    (tree / "bin" / "extra").write_bytes(b"smuggled")
    with pytest.raises(ChecksumError, match=r"not in SHA256SUMS: bin/extra"):
        verify_tree(tree)


def test_a_tree_without_sums_is_not_a_bundle(tmp_path):
    with pytest.raises(ChecksumError, match="SHA256SUMS is missing"):
        verify_tree(tmp_path)


@pytest.mark.parametrize("line", ["abc  bin/kubeadm", f"{'0' * 64}  ../etc/passwd", f"{'0' * 64}  /etc/passwd"])
def test_malformed_or_escaping_lines_are_refused(line):
    with pytest.raises(ChecksumError):
        parse_sums(line + "\n")


DIGEST = "a" * 64


@pytest.mark.parametrize(
    "text",
    [
        f"{DIGEST}\n",  # dl.k8s.io: the bare digest
        f"{DIGEST}  crictl.tgz\n",  # sha256sum
        f"{'b' * 64}  other.tgz\n{DIGEST} *crictl.tgz\n",  # binary-mode marker, several files
        f"{DIGEST}  release/crictl.tgz\n",  # with a directory
    ],
)
def test_upstream_checksum_formats(text):
    assert upstream_digest(text, "crictl.tgz") == DIGEST


def test_upstream_checksum_file_without_the_file_is_refused():
    with pytest.raises(ChecksumError, match=r"no entry for crictl\.tgz"):
        upstream_digest(f"{DIGEST}  other.tgz\n", "crictl.tgz")


def test_the_digest_of_sha256sums_changes_with_a_rewritten_line(tree):
    before = sums_digest(tree)
    assert before == hashlib.sha256((tree / "SHA256SUMS").read_bytes()).hexdigest()
    # A tampered file with a matching line: the tree verifies, its SHA256SUMS no longer hashes the same.
    (tree / "bin" / "kubeadm").write_bytes(b"tampered kubeadm")
    write_sums(tree)
    verify_tree(tree)
    assert sums_digest(tree) != before


def test_verify_refuses_a_tree_whose_files_match_but_that_has_no_manifest(tree, capsys):
    # bundle.py verify of a whole bundle: test_releases.py.
    assert bundle.main(["verify", str(tree)]) == 1
    assert f"bundle: {tree}/manifest.json: cannot be read" in capsys.readouterr().err
