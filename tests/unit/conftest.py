"""Make the project's plugins importable the way Ansible itself loads them."""

import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"

# Modules import their helpers as ansible.module_utils.<name>; Ansible resolves that through the
# module_utils path of ansible.cfg, tests through the package path.
ansible.module_utils.__path__.append(str(PLUGINS / "module_utils"))
for folder in ("modules", "inventory", "filter"):
    sys.path.insert(0, str(PLUGINS / folder))
