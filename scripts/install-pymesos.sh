#!/usr/bin/env bash
# Installs pymesos 0.3.15 (unmodified, from PyPI) into a virtualenv for the Mesos end-to-end
# tests, and prints the virtualenv's python. Idempotent: a second run only checks.
#
#   scripts/install-pymesos.sh [VENV_DIR]      # default: target/pymesos-venv
#
# pymesos needs http-parser 0.9.0, whose shipped C file does not build on CPython 3.11
# (longintrepr.h moved). We regenerate that C file from the package's own parser.pyx with
# Cython < 3 and build it, which is what the package's sdist would do with a current Cython;
# no pymesos code is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath -m "${1:-target/pymesos-venv}")
py="$venv/bin/python"

if [[ -x "$py" ]] && "$py" -c 'import pymesos, kazoo, http_parser.parser' 2>/dev/null; then
  echo "$py"
  exit 0
fi

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v gcc >/dev/null || need_apt+=(gcc)
if ! python3 -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' 2>/dev/null; then
  need_apt+=(python3-dev)
fi
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]} with apt-get" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >&2
fi

rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check "cython<3" six addict kazoo >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
  -d "$work" "http-parser==0.9.0" >&2
tar -xzf "$work"/http-parser-0.9.0.tar.gz -C "$work"
(cd "$work/http-parser-0.9.0" && "$venv/bin/cython" http_parser/parser.pyx -o http_parser/parser.c >&2 2>/dev/null)
"$venv/bin/pip" install -q --disable-pip-version-check "$work/http-parser-0.9.0" >&2
"$venv/bin/pip" install -q --disable-pip-version-check "pymesos==0.3.15" >&2
"$py" -c 'import pymesos, kazoo, http_parser.parser' >&2
echo "$py"
