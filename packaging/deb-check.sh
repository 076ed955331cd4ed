#!/bin/sh
# make deb, after lintian: what the packages promise. Each package holds
# its files; the service is neither enabled nor started and its user is made
# by sysusers before tmpfiles uses it; libtids1 carries the SONAME and
# libtids-dev builds a client against it, through pkg-config, shared and
# static, from the unpacked packages alone.
#
#   packaging/deb-check.sh OUT   (the directory packaging/deb.sh filled)
set -eu
out=$(cd "${1:?usage: deb-check.sh OUT}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
fail() { echo "deb-check: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

deb() { echo "$out/${1}_${version}_${arch}.deb"; }
has() {
	dpkg-deb -c "$(deb "$1")" | awk '{ print $NF }' | grep -qx -- "./$2" || fail "$1 does not hold /$2"
}
for p in tidsd tidsctl libtids1 libtids-dev; do
	[ -f "$(deb $p)" ] || fail "no package $p"
done
has tidsd usr/sbin/tidsd
has tidsd lib/systemd/system/tidsd.service
has tidsd lib/systemd/system/tidsd@.service
has tidsd usr/lib/sysusers.d/tidsd.conf
has tidsd usr/share/tids/grafana-dashboard.json
has tidsd usr/share/bash-completion/completions/tidsd
has tidsd usr/share/man/man8/tidsd.8.gz
has tidsctl usr/bin/tidsctl
has tidsctl usr/share/bash-completion/completions/tidsctl
has libtids1 "usr/lib/$multiarch/libtids.so.1"
has libtids-dev "usr/lib/$multiarch/libtids.a"
has libtids-dev "usr/lib/$multiarch/pkgconfig/libtids.pc"
has libtids-dev usr/include/tids/client.h
dpkg-deb -f "$(deb tidsd)" Depends | grep -q sysusers || fail "tidsd does not depend on a sysusers implementation"

# Nothing enabled or started at installation.
dpkg-deb -e "$(deb tidsd)" "$tmp/ctl"
if grep -E "systemctl (enable|start|restart)|invoke-rc.d|deb-systemd-invoke start" "$tmp/ctl/postinst" >/dev/null; then
	fail "tidsd's postinst starts the service"
fi
if grep -q "deb-systemd-helper enable" "$tmp/ctl/postinst" &&
   ! grep -B3 "deb-systemd-helper enable" "$tmp/ctl/postinst" | grep -q "was-enabled"; then
	fail "tidsd's postinst enables the service"
fi
users=$(grep -n "systemd-sysusers" "$tmp/ctl/postinst" | head -1 | cut -d: -f1)
dirs=$(grep -n "systemd-tmpfiles" "$tmp/ctl/postinst" | head -1 | cut -d: -f1)
[ -n "$users" ] && [ -n "$dirs" ] && [ "$users" -lt "$dirs" ] ||
	fail "tidsd's postinst does not make the tids user (sysusers) before its directories (tmpfiles)"

# A client of the unpacked libtids1 and libtids-dev, shared and static.
for p in libtids1 libtids-dev; do dpkg-deb -x "$(deb $p)" "$tmp/root"; done
soname=$(readelf -d "$tmp/root/usr/lib/$multiarch/libtids.so.1" | sed -n 's/.*soname: \[\(.*\)\]/\1/p')
[ "$soname" = libtids.so.1 ] || fail "libtids1's SONAME is '$soname'"
cat >"$tmp/client.c" <<'C'
#include <stdio.h>
#include <tids/crypto.h>
#include <tids/error.h>
int main(void)
{
	struct tids_identity id;
	char b64[TIDS_KEY_BASE64_BYTES];

	if (tids_identity_generate(&id) != 0)
		return 1;
	tids_key_to_base64(id.sign_pk, b64);
	tids_identity_wipe(&id);
	printf("%s\n", b64);
	return 0;
}
C
PKG_CONFIG_PATH=$tmp/root/usr/lib/$multiarch/pkgconfig PKG_CONFIG_SYSROOT_DIR=$tmp/root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# shellcheck disable=SC2046
cc -o "$tmp/shared" "$tmp/client.c" $(pkg-config --cflags --libs libtids) || fail "a client does not build against libtids-dev"
readelf -d "$tmp/shared" | grep -q 'NEEDED.*libtids.so.1' || fail "the client did not link libtids.so.1"
LD_LIBRARY_PATH=$tmp/root/usr/lib/$multiarch "$tmp/shared" >/dev/null || fail "the shared client does not run"
# shellcheck disable=SC2046
cc -o "$tmp/static" "$tmp/client.c" $(pkg-config --cflags libtids) "$tmp/root/usr/lib/$multiarch/libtids.a" \
	$(pkg-config --static --libs-only-l libtids | sed 's/-ltids//') || fail "a client does not link libtids.a"
! readelf -d "$tmp/static" | grep -q 'libtids' || fail "the static client still needs libtids.so"
"$tmp/static" >/dev/null || fail "the static client does not run"
echo "  DEBCHECK tidsd, tidsctl, libtids1, libtids-dev: files, no service enabled, user before directories, clients link shared and static"
