#!/usr/bin/env bash
# Installs marathon-python 0.13.0 (unmodified, from PyPI) into a virtualenv for Marathon's
# end-to-end tests, and prints the virtualenv's python. Idempotent.
#
#   scripts/install-marathon-python.sh [VENV_DIR]      # default: target/marathon-venv
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath -m "${1:-target/marathon-venv}")
py="$venv/bin/python"
if [[ -x "$py" ]] && "$py" -c 'import marathon, requests' 2>/dev/null; then
  echo "$py"
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "installing python3-venv with apt-get" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
fi
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check "marathon==0.13.0" >&2
"$py" -c 'import marathon' >&2
echo "$py"
