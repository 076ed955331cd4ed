#!/bin/sh
# Fetches the Apache Kafka broker that the integration tests run (the jars of
# tests/kafka/pom.xml and their runtime dependencies) into $O/kafka/libs with
# Maven. Idempotent: a complete earlier fetch of the pinned version is reused.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
O=${O:-$root/build}
MVN=${MVN:-mvn}

version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
[ -n "$version" ] || { echo "fetch.sh: no <kafka.version> in $here/pom.xml" >&2; exit 1; }
dest=$O/kafka/libs

# The whole dir is moved into place only after Maven succeeded, so the broker
# jar being there means a complete fetch.
if [ -f "$dest/kafka_2.13-$version.jar" ]; then
	exit 0
fi

if ! command -v "$MVN" >/dev/null 2>&1; then
	echo "fetch.sh: '$MVN' not found; Maven is needed once to fetch the Apache Kafka $version broker (packaging/deps.sh --test installs it)" >&2
	exit 1
fi

mkdir -p "$O/kafka"
# Absolute: Maven resolves a relative outputDirectory against the pom's dir.
O=$(cd "$O" && pwd)
dest=$O/kafka/libs
tmp=$(mktemp -d "$O/kafka/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "  KAFKA    fetching Apache Kafka $version with Maven"
# Batch mode and no colour: the log is for people reading a failure.
if ! "$MVN" -q -B -Dstyle.color=never -f "$here/pom.xml" \
	dependency:copy-dependencies -DincludeScope=runtime \
	-DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
	# Maven colours some lines even in batch mode.
	sed 's/\x1b\[[0-9;]*m//g' "$tmp/mvn.log" >&2
	echo "fetch.sh: Maven could not fetch Apache Kafka $version (its output is above)." >&2
	echo "fetch.sh: it needs network access to the Maven repository once, or a ~/.m2 that already holds the jars." >&2
	exit 1
fi
if [ ! -f "$tmp/libs/kafka_2.13-$version.jar" ]; then
	sed 's/\x1b\[[0-9;]*m//g' "$tmp/mvn.log" >&2
	echo "fetch.sh: Maven succeeded but kafka_2.13-$version.jar is not among the fetched jars" >&2
	exit 1
fi

# Move the complete set into place; an older version goes out of the way
# first and is deleted with the temp dir.
if [ -e "$dest" ]; then
	mv "$dest" "$tmp/old"
fi
# broker.sh's class data archive belongs to the old jars.
rm -f "$O/kafka/kafka.jsa"
if ! mv -T "$tmp/libs" "$dest" 2>/dev/null; then
	# Another fetch won the race; fine if it fetched the same version.
	[ -f "$dest/kafka_2.13-$version.jar" ] || { echo "fetch.sh: could not move the jars into $dest" >&2; exit 1; }
fi
echo "  KAFKA    $(ls "$dest" | wc -l) jars in $dest"
