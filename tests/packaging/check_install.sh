#!/bin/sh
# The README's install path works for the service's own user: make install
# into a DESTDIR, the steps the README gives after it (systemd-sysusers,
# systemd-tmpfiles --create, the default policies), then `tidsd -n` as the
# unprivileged user tids reads the installed configuration and says
# "configuration OK". The configuration is root:tids 0640 both when make
# install runs after the user exists and when systemd-tmpfiles fixes an
# install made before it.
#
# Needs root (a user, ownership, setpriv); the user tids is created from our
# sysusers entry if missing and removed again afterwards.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case $O in /*) ;; *) O=$root/$O ;; esac

if [ "$(id -u)" != 0 ]; then
	echo "  SKIP     install as user tids: needs root (to create the user and set ownership)" >&2
	exit 0
fi
for tool in systemd-sysusers systemd-tmpfiles setpriv getent; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "  SKIP     install as user tids: $tool not installed" >&2
		exit 0
	fi
done

tmp=$(mktemp -d)
created_user=
# Two runs at once must not remove the user under each other.
exec 9>"${TMPDIR:-/tmp}/tids-check-install.lock"
flock 9
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ -n "$created_user" ]; then
		userdel tids 2>/dev/null || true
		! getent group tids >/dev/null || groupdel tids 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "check_install: $*" >&2
	exit 1
}

owner_mode() {
	stat -c '%U:%G %a' "$1"
}

dest=$tmp/dest
mkdir -p "$dest"
# The user tids must reach the tree, as it reaches / on a real install.
chmod 0755 "$tmp" "$dest"

if ! getent passwd tids >/dev/null; then
	systemd-sysusers "$root/packaging/tidsd.sysusers" >"$tmp/sysusers.log" 2>&1 || { cat "$tmp/sysusers.log" >&2; fail "systemd-sysusers failed"; }
	created_user=1
	getent passwd tids >/dev/null || fail "systemd-sysusers did not create the user tids"
fi

env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$root" O="$O" DESTDIR="$dest" PREFIX=/usr SYSCONFDIR=/etc \
	SYSTEMDUNITDIR=/usr/lib/systemd/system SYSUSERSDIR=/usr/lib/sysusers.d TMPFILESDIR=/usr/lib/tmpfiles.d \
	install >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "make install failed"; }
conf=$dest/etc/tids/tidsd.conf

# make install, the group existing: root:tids, readable by the group only.
[ "$(owner_mode "$dest/etc/tids")" = "root:tids 750" ] ||
	fail "$dest/etc/tids is $(owner_mode "$dest/etc/tids"), want root:tids 750"
[ "$(owner_mode "$conf")" = "root:tids 640" ] || fail "$conf is $(owner_mode "$conf"), want root:tids 640"

# An install made before the user existed: systemd-tmpfiles --create (the
# README's next step) gives the configuration to the group. It resolves
# names in the tree's own user database.
chgrp root "$dest/etc/tids" "$conf"
chmod 0600 "$conf"
getent passwd tids >"$dest/etc/passwd"
getent group tids >"$dest/etc/group"
systemd-tmpfiles --create --root="$dest" >"$tmp/tmpfiles.log" 2>&1 ||
	{ cat "$tmp/tmpfiles.log" >&2; fail "systemd-tmpfiles --create failed"; }
[ "$(owner_mode "$dest/etc/tids")" = "root:tids 750" ] ||
	fail "after tmpfiles, $dest/etc/tids is $(owner_mode "$dest/etc/tids")"
[ "$(owner_mode "$conf")" = "root:tids 640" ] || fail "after tmpfiles, $conf is $(owner_mode "$conf")"
[ "$(owner_mode "$dest/var/lib/tids")" = "tids:tids 750" ] ||
	fail "after tmpfiles, $dest/var/lib/tids is $(owner_mode "$dest/var/lib/tids")"

# The README: the default policies into /etc/tids/policy. Paths of the
# installed configuration point into the tree (rewritten in place, so the
# file keeps its owner and mode).
cp "$dest"/usr/share/tids/policy/*.tidspol "$dest/etc/tids/policy/"
sed -e "s|/etc/tids|$dest/etc/tids|g; s|/var/lib/tids|$dest/var/lib/tids|g; s|/run/tids|$dest/run/tids|g" \
	"$conf" >"$tmp/conf"
cat "$tmp/conf" >"$conf"
[ "$(owner_mode "$conf")" = "root:tids 640" ] || fail "rewriting $conf changed it to $(owner_mode "$conf")"

uid=$(id -u tids)
gid=$(getent group tids | cut -d: -f3)
if ! out=$(setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all \
	"$dest/usr/sbin/tidsd" -n -c "$conf" 2>&1); then
	printf '%s\n' "$out" >&2
	fail "tidsd -n as user tids failed on the installed tree"
fi
[ "$out" = "configuration OK" ] || fail "tidsd -n as user tids said: $out"
echo "  UNIT     installed tree: tidsd -n as user tids: configuration OK"
