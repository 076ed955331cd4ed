#!/bin/sh
# The systemd unit stays hardened: systemd-analyze security must rate its
# exposure at 2.0 or below, and the unit must parse.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "  SKIP     systemd-analyze not installed: unit exposure not checked" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e 's|@SBINDIR@|/usr/sbin|g; s|@SYSCONFDIR@|/etc|g' "$root/packaging/tidsd.service" >"$tmp/tidsd.service"
out=$(systemd-analyze security --offline=true "$tmp/tidsd.service" 2>&1)
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for tidsd.service: \([0-9.]*\).*/\1/p')
[ -n "$level" ] || { printf '%s\n' "$out" >&2; echo "no exposure level found" >&2; exit 1; }
if awk -v l="$level" 'BEGIN { exit !(l > 2.0) }'; then
	echo "tidsd.service exposure $level is above 2.0" >&2
	exit 1
fi
echo "  UNIT     tidsd.service exposure $level (at most 2.0)"
# admin.group matches a peer's groups: in a private user namespace every
# other group reads as nobody, and members of admin.group must be able to
# reach the socket in the runtime directory (tidsd.conf(5)).
if grep -q '^PrivateUsers=\(yes\|true\|on\|1\|self\)' "$tmp/tidsd.service"; then
	echo "tidsd.service sets PrivateUsers=: admin.group could never match" >&2
	exit 1
fi
if ! grep -q '^RuntimeDirectoryMode=07.5$' "$tmp/tidsd.service"; then
	echo "tidsd.service: admin.group members cannot reach the socket in RuntimeDirectory" >&2
	exit 1
fi
echo "  UNIT     tidsd.service lets admin.group reach the admin socket"
