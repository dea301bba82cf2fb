"""Unit tests import the collection k8s_lab.lab as Ansible loads it, ansible_collections.k8s_lab.lab.*
(collections/ holds the committed symlink ansible_collections/k8s_lab/lab -> the repository), and
the test doubles from tests/doubles."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests"))
