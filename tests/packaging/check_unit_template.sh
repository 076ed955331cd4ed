#!/bin/sh
# The template unit of a hub on several instances (tidsd@.service) is as
# hardened as tidsd.service, and each instance gets its own name, state,
# runtime directory and configuration, and the hub's two keys.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "  SKIP     systemd-analyze not installed: template unit not checked" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unit=$tmp/tidsd@b.service
sed -e 's|@SBINDIR@|/usr/sbin|g; s|@SYSCONFDIR@|/etc|g' "$root/packaging/tidsd@.service" >"$unit"
out=$(systemd-analyze security --offline=true "$unit" 2>&1)
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for tidsd@b.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ] || [ "$(echo "$level > 2.0" | bc)" = 1 ]; then
	printf '%s\n' "$out" >&2
	echo "tidsd@.service exposure ${level:-unknown} is above 2.0" >&2
	exit 1
fi
for want in '^ExecStart=/usr/sbin/tidsd -c /etc/tids/tidsd@%i.conf -i %i$' '^StateDirectory=tids/%i$' \
	'^RuntimeDirectory=tids/%i$' '^LoadCredential=hub.key:' '^LoadCredential=master.key:'; do
	if ! grep -q "$want" "$unit"; then
		echo "tidsd@.service: no line matching $want" >&2
		exit 1
	fi
done
echo "  UNIT     tidsd@.service exposure $level (at most 2.0), one state, runtime dir and config per instance"
