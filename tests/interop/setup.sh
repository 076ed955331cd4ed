#!/bin/sh
# The Python side of the interop test, made by `make check`: a venv under
# $O/venv with the pinned packages of requirements.txt, and protobuf classes
# that protoc generates from proto/ into $O/interop (never into git).
# Idempotent: a venv installed from the same requirements is kept, so a
# second run costs only the protoc call.
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

if ! cmp -s "$req" "$stamp" 2>/dev/null || ! "$venv/bin/python" -c 'import noise, google.protobuf, cryptography' 2>/dev/null; then
	echo "  VENV     $venv"
	rm -rf "$venv"
	"$PYTHON" -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
	cp "$req" "$stamp"
fi

# Generated afresh each time (protoc takes a moment), into a new directory
# that replaces the old one whole: never a mix of two versions of proto/.
out=$O/interop
rm -rf "$out.new"
mkdir -p "$out.new"
protoc -I"$root/proto" --python_out="$out.new" "$root"/proto/tids/v1/*.proto
rm -rf "$out"
mv "$out.new" "$out"
