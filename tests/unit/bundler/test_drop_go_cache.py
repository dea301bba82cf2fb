"""After a build the go command's build cache goes, and only it: the artifacts and the module cache stay."""

from __future__ import annotations

from bundler import artifacts


def test_the_build_cache_goes_and_its_size_is_said(tmp_path):
    gocache = tmp_path / "gocache" / "0a"
    gocache.mkdir(parents=True)
    (gocache / "obj-d").write_bytes(b"x" * 1000)
    (tmp_path / "gocache" / "trim.txt").write_text("12")
    kept = [tmp_path / "gomod" / "cache" / "k8s.io@v1.zip", tmp_path / "artifacts" / "etcd-1" / "sums.json"]
    for path in kept:
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    assert artifacts.drop_go_build_cache(tmp_path) == 1002
    assert not (tmp_path / "gocache").exists()
    assert all(path.is_file() for path in kept)


def test_no_build_cache_is_nothing_to_drop(tmp_path):
    assert artifacts.drop_go_build_cache(tmp_path) == 0
    assert artifacts.drop_go_build_cache(tmp_path / "absent") == 0
