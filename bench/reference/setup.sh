#!/usr/bin/env bash
# Creates the reference server's virtualenv at target/bench-venv (relative to the repository root) and installs
# bench/reference/requirements.txt into it. Idempotent: when the venv exists and was built from the same
# requirements file, it returns at once. PYTHON=python3.11 picks the interpreter (3.10 or newer; pinned for 3.11).
#
#   bench/reference/setup.sh            # then: target/bench-venv/bin/python bench/reference/server.py --help
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=$root/target/bench-venv
requirements=$root/bench/reference/requirements.txt
stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    echo "$venv is up to date"
    exit 0
fi

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "setup.sh: $python is older than 3.10 (set PYTHON=python3.11)" >&2; exit 1; }
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -c 'import fastapi, uvicorn, onnxruntime, numpy, PIL, simplejpeg, websockets, uvloop, httptools'
echo "$want" > "$stamp"
echo "$venv ready: $("$venv/bin/python" --version), onnxruntime $("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)')"
