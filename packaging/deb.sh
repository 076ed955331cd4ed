#!/bin/sh
# make deb: builds the Debian packages of this tree into OUT (a directory,
# emptied first) and runs lintian on them; any lintian error fails.
# dpkg-buildpackage writes next to the source tree it builds, so it builds
# a copy of this tree (build directories and .git left out) inside OUT.
#
#   packaging/deb.sh OUT
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: deb.sh OUT}
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
rm -rf "$out"
mkdir -p "$out/tids-$version"
out=$(cd "$out" && pwd)
src=$out/tids-$version

# The tree as it is (uncommitted changes included), without what a build
# left in it.
(cd "$root" && tar --exclude=./.git --exclude='./build*' --exclude='./debian/.debhelper' \
	--exclude='./debian/tmp' --exclude='./debian/files' -cf - .) | tar -C "$src" -xf -
# An O= build directory inside the tree that is not named build*.
case "${O:-}" in
"" | /*) ;;
*) rm -rf "${src:?}/${O:?}" ;;
esac

echo "  DEB      building in $src"
(cd "$src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") >"$out/build.log" 2>&1 || {
	tail -60 "$out/build.log" >&2
	echo "dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
rm -rf "$src"
changes=$(ls "$out"/*.changes)
for deb in "$out"/*.deb; do
	echo "  DEB      $(basename "$deb")"
done
echo "  LINTIAN  $(basename "$changes")"
# Errors fail; warnings and notes are shown.
lintian --fail-on error --info --display-info "$changes" >"$out/lintian.log" || { cat "$out/lintian.log"; exit 1; }
grep -E "^[EWI]:" "$out/lintian.log" | sed "s/^/  LINTIAN  /" || true
"$root/packaging/deb-check.sh" "$out"
