#!/bin/sh
# Installs what building (with --test: testing, with --fuzz: the libFuzzer
# targets, with --analyze: static analysis, with --deb: packaging) tids
# needs on Debian.
# As root it runs apt-get; otherwise it prints the exact command and stops.
# Quiet and fast when everything is already there.
set -eu

build_pkgs="build-essential pkg-config protobuf-c-compiler libprotobuf-c-dev
librdkafka-dev libsodium-dev libsqlite3-dev libmicrohttpd-dev check"
# tzdata: the zones hub.timezone names, read by tidsd and tidsctl at run time
build_pkgs="$build_pkgs tzdata"
test_pkgs="protobuf-compiler clang python3 python3-venv default-jre-headless maven chromium fonts-dejavu-core tmux
bash-completion"
# libFuzzer's runtime is not in clang itself: libclang-rt-N-dev, which
# clang-N only recommends (and we install without recommends). The
# llvm-defaults package libclang-rt-dev follows the default clang's N.
fuzz_pkgs="clang libclang-rt-dev"

want="$build_pkgs"
[ "${1:-}" = "--test" ] && want="$want $test_pkgs"
[ "${1:-}" = "--fuzz" ] && want="$want $fuzz_pkgs"
[ "${1:-}" = "--analyze" ] && want="$want clang clang-tools"
# make deb: the Debian tools (the build dependencies are build_pkgs).
[ "${1:-}" = "--deb" ] && want="$want debhelper dpkg-dev lintian"

# Does the clang we build with have libFuzzer's runtime (from whichever
# libclang-rt package)?
fuzzer_runtime() {
	command -v clang >/dev/null 2>&1 || return 1
	f=$(clang -print-file-name="libclang_rt.fuzzer-$(uname -m).a" 2>/dev/null) || return 1
	[ -f "$f" ]
}

missing=""
for p in $want; do
	case "$p" in
	# The JDK and Maven may come from elsewhere (a JDK in /usr/lib/jvm, say);
	# what matters is that the commands run.
	default-jre-headless) command -v java >/dev/null 2>&1 && continue ;;
	maven) command -v mvn >/dev/null 2>&1 && continue ;;
	python3) command -v python3 >/dev/null 2>&1 && continue ;;
	python3-venv) python3 -c 'import venv, ensurepip' >/dev/null 2>&1 && continue ;;
	libclang-rt-dev) fuzzer_runtime && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

[ -z "$missing" ] && exit 0

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	echo "tids needs these Debian packages:$missing" >&2
	echo "Install them as root, then run make again:" >&2
	echo "    sudo apt-get update && sudo $cmd" >&2
	exit 1
fi
echo "  DEPS    installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
