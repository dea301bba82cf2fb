"""Which kernel settings differ from what is wanted, from the output of `sysctl -e KEY...` (the
common role's check, read by health and recover). For the filter sysctl_differences."""

from __future__ import annotations


def live_values(lines) -> dict[str, str]:
    """`sysctl` output lines ("key = value") as key -> value; other lines (none with -e) are ignored."""
    values = {}
    for line in lines or []:
        key, sep, value = str(line).partition(" = ")
        if sep:
            values[key] = value
    return values


def differences(lines, wanted) -> list[str]:
    """The keys of wanted (key -> value) whose live value is another, or missing, in wanted's order."""
    live = live_values(lines)
    return [key for key, value in (wanted or {}).items() if live.get(key, "") != str(value)]
