#!/usr/bin/env bash
# Builds rstlab's fuzz targets into $OUT, with each target's seed corpus and dictionary, as
# ClusterFuzzLite (and OSS-Fuzz) expect: $OUT/<target>, $OUT/<target>_seed_corpus.zip,
# $OUT/<target>.dict.
#
# In ClusterFuzzLite's image (base-builder-rust) it runs as `compile` runs it: $SRC set, nightly
# cargo, and $SANITIZER chosen by the fuzzing workflow. On any other machine:
#
#   OUT=dir bash .clusterfuzzlite/build.sh
#
# builds from this checkout with nightly when rustup has it (AddressSanitizer), else with the
# default toolchain, RUSTC_BOOTSTRAP=1 and no sanitizer, as fuzz/smoke does.
#
# Every target runs in an unprivileged container: `oracle` and `scenario_text` touch no socket,
# and `oracle_vs_kernel` runs scenarios on loopback sockets only (127.0.0.0/8 inside the
# container's own network namespace, quiescence read with TCP_INFO and sock_diag, neither of
# which needs a capability). None uses the emulated link, which needs CAP_NET_ADMIN and
# /dev/net/tun.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${SRC:-} && -d "$SRC/rstlab/fuzz" ]]; then
    repo="$SRC/rstlab"
fi
: "${OUT:?set OUT to the folder the fuzz targets go to, e.g. OUT=out bash .clusterfuzzlite/build.sh}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$repo"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

fuzz=(cargo fuzz build -O)
if [[ -n ${SANITIZER:-} ]]; then
    # ClusterFuzzLite's image: its cargo is nightly, and `cargo fuzz` takes the sanitizer
    # from the workflow (address, undefined, memory, or coverage for reports).
    case "$SANITIZER" in
        coverage) fuzz+=(--sanitizer none) ;;
        *) fuzz+=(--sanitizer "$SANITIZER") ;;
    esac
elif rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz build -O)
else
    export RUSTC_BOOTSTRAP=1
    fuzz+=(--sanitizer none)
fi
echo "build.sh: ${fuzz[*]}"
"${fuzz[@]}"

triple=$(rustc -vV | sed -n 's/^host: //p')
built="fuzz/target/$triple/release"
targets=$(cargo fuzz list)
for target in $targets; do
    cp "$built/$target" "$OUT/$target"
    if [[ -d "fuzz/corpus/$target" ]]; then
        rm -f "$OUT/${target}_seed_corpus.zip"
        (cd "fuzz/corpus/$target" && zip -q -j "$OUT/${target}_seed_corpus.zip" ./*)
    fi
    if [[ -f "fuzz/$target.dict" ]]; then
        cp "fuzz/$target.dict" "$OUT/$target.dict"
    fi
    echo "build.sh: $OUT/$target"
done
