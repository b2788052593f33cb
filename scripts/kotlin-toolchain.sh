#!/usr/bin/env bash
# Installs what the Kotlin bindings are built and tested with, idempotently, and prints
# where it is as shell assignments (eval them):
#   - the Kotlin compiler from npm (kotlin-compiler, which bundles kotlin-stdlib and
#     kotlinx-coroutines-core-jvm) into target/kotlin-toolchain/ (git-ignored);
#   - JNA and JUnit 4 from Debian (libjna-java, junit4 -> /usr/share/java);
#   - for the benchmark only, log4j2 with the LMAX disruptor (liblog4j2-java,
#     libdisruptor-java): best effort, LOCUS_LOG4J_CP is empty when they are missing.
# Java 17+ (java) must be on PATH. Anything missing that cannot be installed is a loud
# failure naming the command to run.
#
#   eval "$(bash scripts/kotlin-toolchain.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

KOTLIN_VERSION=2.4.20
root="$PWD/target/kotlin-toolchain"
pkg="$root/node_modules/kotlin-compiler"
java_dir=/usr/share/java

die() {
    echo "kotlin-toolchain: $*" >&2
    exit 1
}

command -v java >/dev/null || die "java is missing: apt-get install -y openjdk-17-jdk-headless"

installed_version() {
    [ -f "$pkg/package.json" ] && sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json" | head -1
}
if [ "$(installed_version)" != "$KOTLIN_VERSION" ] || [ ! -x "$pkg/bin/kotlinc" ]; then
    command -v npm >/dev/null || die "npm is missing: apt-get install -y npm"
    mkdir -p "$root"
    echo "kotlin-toolchain: npm install kotlin-compiler@$KOTLIN_VERSION into $root" >&2
    (cd "$root" && npm install --no-audit --no-fund --silent "kotlin-compiler@$KOTLIN_VERSION" >&2) ||
        die "npm install kotlin-compiler@$KOTLIN_VERSION failed (run it in $root)"
fi
[ -x "$pkg/bin/kotlinc" ] || die "no kotlinc in $pkg: rm -rf $root and re-run $0"

apt_jars() {
    local missing=()
    for jar in jna.jar junit4.jar hamcrest-core.jar; do
        [ -f "$java_dir/$jar" ] || missing+=("$jar")
    done
    [ ${#missing[@]} -eq 0 ]
}
if ! apt_jars; then
    echo "kotlin-toolchain: apt-get install libjna-java junit4" >&2
    { apt-get update -qq && apt-get install -y -qq libjna-java junit4; } >&2 ||
        die "could not install JNA and JUnit 4: apt-get update && apt-get install -y libjna-java junit4"
    apt_jars || die "JNA or JUnit 4 jars missing from $java_dir after install"
fi

# The benchmark's log4j2 async peer: optional, never a reason to fail.
log4j_cp=""
if [ ! -f "$java_dir/log4j-core.jar" ] || [ ! -f "$java_dir/disruptor.jar" ]; then
    { apt-get install -y -qq liblog4j2-java libdisruptor-java || true; } >&2
fi
if [ -f "$java_dir/log4j-core.jar" ] && [ -f "$java_dir/log4j-api.jar" ] && [ -f "$java_dir/disruptor.jar" ]; then
    log4j_cp="$java_dir/log4j-api.jar:$java_dir/log4j-core.jar:$java_dir/disruptor.jar"
fi

coroutines="$pkg/lib/kotlinx-coroutines-core-jvm.jar"
[ -f "$coroutines" ] || die "kotlinx-coroutines-core-jvm.jar not found in $pkg/lib"

echo "KOTLINC='$pkg/bin/kotlinc'"
echo "KOTLIN_STDLIB='$pkg/lib/kotlin-stdlib.jar'"
echo "KOTLIN_COROUTINES='$coroutines'"
echo "JNA_JAR='$java_dir/jna.jar'"
echo "JUNIT_CP='$java_dir/junit4.jar:$java_dir/hamcrest-core.jar'"
echo "LOCUS_LOG4J_CP='$log4j_cp'"
