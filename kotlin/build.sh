#!/usr/bin/env bash
# Builds the Kotlin bindings: the cdylib (unstripped), the Kotlin generated from it by the
# pinned uniffi-bindgen, and kotlin/src/main compiled with them into main.jar. Prints
# shell assignments (eval them) after the toolchain's:
#   LOCUS_FFI_LIB_DIR  the directory holding liblocus_telemetry_ffi.so (-Djna.library.path)
#   LOCUS_KT_OUT       target/kotlin/<profile>: gen/, main.jar, and what callers add
#   LOCUS_KT_CP        main.jar + kotlin-stdlib + coroutines + JNA
#
#   eval "$(bash kotlin/build.sh debug)"     # or release-ffi (the shipped profile: the benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-debug}"
case "$profile" in
    debug) cargo_profile=() ;;
    release) cargo_profile=(--release) ;;
    release-ffi) cargo_profile=(--profile release-ffi) ;;
    *) echo "kotlin/build.sh: profile must be debug, release or release-ffi, not $profile" >&2; exit 2 ;;
esac

toolchain="$(bash scripts/kotlin-toolchain.sh)"
eval "$toolchain"

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
lib_dir="$target_dir/$profile"
out="$target_dir/kotlin/$profile"

# Two invocations, not one: built together, the generator's `cli` feature would be
# unified into the library's own uniffi.
echo "== cargo build ${cargo_profile[*]} -p locus-telemetry-ffi" >&2
cargo build "${cargo_profile[@]}" -p locus-telemetry-ffi >&2
echo "== cargo build -p locus-uniffi-bindgen" >&2
cargo build -p locus-uniffi-bindgen >&2

lib="$lib_dir/liblocus_telemetry_ffi.so"
[ -f "$lib" ] || { echo "kotlin/build.sh: $lib was not built" >&2; exit 1; }
rm -rf "$out/gen"
mkdir -p "$out/gen"
echo "== uniffi-bindgen generate --library $lib --language kotlin" >&2
"$target_dir/debug/uniffi-bindgen" generate --library "$lib" --language kotlin \
    --no-format --out-dir "$out/gen" >&2

deps="$KOTLIN_COROUTINES:$JNA_JAR"
echo "== kotlinc kotlin/src/main + generated bindings -> $out/main.jar" >&2
"$KOTLINC" -nowarn -jvm-target 17 -cp "$deps" -d "$out/main.jar" \
    "$out/gen" kotlin/src/main/kotlin >&2

echo "$toolchain"
echo "LOCUS_FFI_LIB_DIR='$lib_dir'"
echo "LOCUS_KT_OUT='$out'"
echo "LOCUS_KT_CP='$out/main.jar:$KOTLIN_STDLIB:$deps'"
