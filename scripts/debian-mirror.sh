#!/usr/bin/env bash
# Print the Debian mirror this host already uses, so that no registry host name lives in the repo.
# LAB_DEBIAN_MIRROR overrides it on hosts without apt sources (or to use a local mirror).
set -euo pipefail
if [[ -n "${LAB_DEBIAN_MIRROR:-}" ]]; then
  echo "$LAB_DEBIAN_MIRROR"
  exit 0
fi
mirror=""
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  # deb822: the first URIs line of a stanza that is not the security archive
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f")
  [[ -n "$mirror" ]] && break
done
if [[ -z "$mirror" && -f /etc/apt/sources.list ]]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
if [[ -z "$mirror" ]]; then
  echo "No Debian mirror found in /etc/apt sources; set LAB_DEBIAN_MIRROR" >&2
  exit 1
fi
echo "$mirror"
