"""The output of `systemctl show --property=... UNIT...` read as unit -> properties (the recover
role's service repair). For the filter systemd_units."""

from __future__ import annotations


def units(text: str, suffix: str = ".service") -> dict[str, dict[str, str]]:
    """One block of "Key=Value" lines per unit, blocks separated by an empty line, each named by its
    Id without suffix. A block without an Id is left out."""
    found = {}
    for block in str(text or "").split("\n\n"):
        props = {}
        for line in block.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                props[key] = value
        unit = props.get("Id", "")
        if unit:
            found[unit[: -len(suffix)] if suffix and unit.endswith(suffix) else unit] = props
    return found
