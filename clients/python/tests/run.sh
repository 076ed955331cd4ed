#!/bin/sh
# The Python client's own tests (stdlib unittest), with the package as pip
# installed it into $O/venv (tests/interop/setup.sh, run by make check):
# the protocol's known answers. Its tests against a real tidsd run from
# tests/integration/itest_interop.c.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
O=${O:-$root/build}
O=$(cd "$O" && pwd)
python=$O/venv/bin/python
[ -x "$python" ] || { echo "$python is missing: run 'O=$O tests/interop/setup.sh' (make check does)" >&2; exit 1; }
echo "  PYTHON   clients/python/tests"
# From another directory, so the tests import the installed package, not
# the source tree.
cd "$O"
TIDS_VECTORS=$root/tests/vectors/protocol.json "$python" -m unittest discover -s "$here" -p 'test_*.py'
