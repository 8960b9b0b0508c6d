#!/usr/bin/env bash
# Create a separate virtual environment holding KiMoPack 7.14.1, OUTSIDE the project, so that
# benchmarks/parity_kimopack.py can run it side by side with hotcarrier. KiMoPack 7.14.1 needs
# pandas < 3.
#
#   bash benchmarks/setup_kimopack.sh                     # -> /work/venv-kimopack
#   KIMOPACK_VENV=$HOME/venvs/kimopack bash benchmarks/setup_kimopack.sh
#
# Afterwards: KIMOPACK_PYTHON=$KIMOPACK_VENV/bin/python (parity_kimopack.py defaults to
# /work/venv-kimopack/bin/python).
set -euo pipefail

VENV="${KIMOPACK_VENV:-/work/venv-kimopack}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install "KiMoPack==7.14.1" "pandas<3"
"$VENV/bin/python" -c "import importlib.metadata as m; print('KiMoPack', m.version('KiMoPack'), '| pandas', m.version('pandas'), '| lmfit', m.version('lmfit'))"
echo "export KIMOPACK_PYTHON=$VENV/bin/python"
