#!/bin/sh
# The Python side of the tests, made by `make check`: a venv under $O/venv
# with the pinned packages of requirements.txt and the official Python
# client (clients/python, package tids) installed into it with pip, as a
# user would install it from the repository; and protobuf classes that
# protoc generates from proto/ into $O/interop (never into git).
# Idempotent: a venv installed from the same requirements is kept, so a
# second run costs only protoc and the client's reinstall.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
O=${O:-$root/build}
mkdir -p "$O"
O=$(cd "$O" && pwd)
PYTHON=${PYTHON:-python3}
venv=$O/venv
req=$here/requirements.txt
stamp=$venv/.tids-requirements

if ! cmp -s "$req" "$stamp" 2>/dev/null || ! "$venv/bin/python" -c 'import noise, google.protobuf, nacl, setuptools' 2>/dev/null; then
	echo "  VENV     $venv"
	rm -rf "$venv"
	"$PYTHON" -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
	cp "$req" "$stamp"
fi

# The client is reinstalled each time (it is small): the venv never holds
# an older tids than the tree. Built in a copy under $O, so the source tree
# gets no build/ or egg-info; no build isolation and no dependencies from
# outside (both are pinned above).
rm -rf "$O/python-client"
mkdir -p "$O/python-client"
cp -R "$root/clients/python/." "$O/python-client/"
rm -rf "$O/python-client/build" "$O/python-client"/*.egg-info
TIDS_PROTO_DIR="$root/proto" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
	--no-deps --no-build-isolation --no-index "$O/python-client" >"$O/python-client.log" 2>&1 ||
	{ cat "$O/python-client.log"; exit 1; }

# Generated afresh each time (protoc takes a moment), into a new directory
# that replaces the old one whole: never a mix of two versions of proto/.
out=$O/interop
rm -rf "$out.new"
mkdir -p "$out.new"
protoc -I"$root/proto" --python_out="$out.new" "$root"/proto/tids/v1/*.proto
rm -rf "$out"
mv "$out.new" "$out"
