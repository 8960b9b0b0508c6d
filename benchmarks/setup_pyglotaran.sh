#!/usr/bin/env bash
# Create a separate virtual environment holding pyglotaran 0.7.5, OUTSIDE the project, so the
# benchmarks can run the reference implementation side by side with hotcarrier.
#
#   bash benchmarks/setup_pyglotaran.sh                  # -> /work/venv-glotaran
#   PYGLOTARAN_VENV=$HOME/venvs/glotaran bash benchmarks/setup_pyglotaran.sh
#
# Afterwards point the benchmarks at it with PYGLOTARAN_PYTHON=$PYGLOTARAN_VENV/bin/python
# (bench_hippius.py / bench_batch.py default to /work/venv-glotaran/bin/python).
set -euo pipefail

VENV="${PYGLOTARAN_VENV:-/work/venv-glotaran}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --upgrade pip >/dev/null
"$VENV/bin/pip" install "pyglotaran==0.7.5"
"$VENV/bin/python" -c "import glotaran, scipy, numpy; print('pyglotaran', glotaran.__version__, '| scipy', scipy.__version__, '| numpy', numpy.__version__)"
echo "export PYGLOTARAN_PYTHON=$VENV/bin/python"
