"""A rebuilt bundle replaces the old one's contents, not its directory: podman nodes bind-mount the
bundle directory (scripts/lab-podman.py), and a mount follows the directory it was made of."""

import os
from pathlib import Path

from bundler.build import replace_contents
from bundler.checksums import SUMS_FILE


def bundle(path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


OLD = {"manifest.json": "old", "bin/kubelet": "old kubelet", "images/gone.tar": "x", SUMS_FILE: "old sums"}
NEW = {"manifest.json": "new", "bin/kubelet": "new kubelet", "cni/bin/bridge": "b", SUMS_FILE: "new sums"}


def contents(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): p.read_text() for p in path.rglob("*") if p.is_file()}


def test_the_directory_stays_and_a_handle_opened_before_sees_the_new_bundle(tmp_path):
    out, work = bundle(tmp_path / "bundle", OLD), bundle(tmp_path / "bundle.tmp", NEW)
    inode = out.stat().st_ino
    # What a bind mount holds: the directory itself, opened before the rebuild.
    handle = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        replace_contents(out, work)
        assert sorted(os.listdir(handle)) == ["SHA256SUMS", "bin", "cni", "manifest.json"]
    finally:
        os.close(handle)
    assert out.stat().st_ino == inode
    assert contents(out) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_a_first_build_moves_the_new_bundle_in_place(tmp_path):
    out, work = tmp_path / "bundle", bundle(tmp_path / "bundle.tmp", NEW)
    replace_contents(out, work)
    assert contents(out) == NEW
    assert not work.exists()


def test_sha256sums_leaves_first_and_comes_back_last(tmp_path, monkeypatch):
    out, work = bundle(tmp_path / "bundle", OLD), bundle(tmp_path / "bundle.tmp", NEW)
    moves = []
    rename = Path.rename

    def recording(self, target):
        moves.append((self.parent.name, self.name, Path(target).parent.name))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", recording)
    replace_contents(out, work)
    assert moves[0] == ("bundle", SUMS_FILE, "bundle.old")
    assert moves[-1] == ("bundle.tmp", SUMS_FILE, "bundle")
    # Nothing of the new bundle arrives while the old SHA256SUMS is still there.
    assert all(source != "bundle.tmp" for source, _, _ in moves[:moves.index(("bundle", SUMS_FILE, "bundle.old"))])


def test_a_leftover_of_an_interrupted_run_is_cleared(tmp_path):
    out, work = bundle(tmp_path / "bundle", OLD), bundle(tmp_path / "bundle.tmp", NEW)
    bundle(tmp_path / "bundle.old", {"stale": "s"})
    replace_contents(out, work)
    assert contents(out) == NEW
    assert not (tmp_path / "bundle.old").exists()
