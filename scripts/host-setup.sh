#!/usr/bin/env bash
# Install the host's Debian packages (only those missing) and the project's Python
# environment. Idempotent: a second run does nothing but check.
# Uses sudo only when not root. Never touches apt sources: it installs from what
# the host already has configured.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/harness/data/host-packages.txt"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "host-setup: not root and no sudo; install as root: $(awk '!/^#/ && NF {print $1}' "$list" | sort -u | tr '\n' ' ')" >&2; exit 2; }
    sudo_cmd=(sudo)
fi

missing=()
for pkg in $(awk '!/^#/ && NF {print $1}' "$list" | sort -u); do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "host-setup: installing ${missing[*]}"
    # apt lists may be absent on a fresh machine; an update is needed once.
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

venv="$here/.venv"
stamp="$venv/.vfio-hil-installed"
want=$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "$here[test]"
    echo "$want" > "$stamp"
fi
