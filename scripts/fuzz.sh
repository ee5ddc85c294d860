#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of the parsers that read hostile input:
#
#   request       the JSON parser and the job request validator
#   address       the URL and address policy, with libcurl's own URL parser as the oracle
#                 (property: the submission check refuses every address the connect check refuses)
#   retry-after   the Retry-After parser
#   transcript    the SRT / WebVTT / transcript-JSON parser
#   delivery-log  the delivery-log line reader and the writer's JSON
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds for each target)
#
# Each target is one file in Fuzz/Targets/ with an `LLVMFuzzerTestOneInput` function, linked
# against the package's own sources compiled with `swiftc -sanitize=fuzzer,address` (SwiftPM
# cannot build a library-only fuzzer executable). Fuzz/corpus/<target>/ keeps the seeds
# (`seed-*`) and, after each run, the fewest inputs that cover every edge reached (set-cover merge),
# so it stays small; Fuzz/dict/<target>.dict holds tokens for the mutator. Crashes go to
# .build-fuzz/crashes/ and make the script exit 1. The last lines list executions and coverage
# per target.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-60}"
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(request address retry-after transcript delivery-log)

BUILD=.build-fuzz
mkdir -p "$BUILD/lib" "$BUILD/crashes" "$BUILD/logs"
FLAGS=(-swift-version 6 -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
       -enable-upcoming-feature InternalImportsByDefault -parse-as-library -sanitize=fuzzer,address -O -g
       -I "$BUILD/lib" -L "$BUILD/lib" -Xcc -fmodule-map-file=Sources/CCurl/module.modulemap -suppress-warnings)

# build_module NAME "DEPENDENCY..." FILE... : a static library and module, rebuilt when a source or
# a module it imports is newer.
build_module() {
    local name=$1 dependencies=() dependency
    for dependency in $2; do dependencies+=("$BUILD/lib/lib$dependency.a"); done
    shift 2
    local library="$BUILD/lib/lib$name.a"
    if [ -f "$library" ] && [ -z "$(find "$@" "${dependencies[@]}" -newer "$library")" ]; then return; fi
    echo "fuzz: compiling $name"
    swiftc "${FLAGS[@]}" -enable-testing -module-name "$name" -emit-module -emit-module-path "$BUILD/lib/$name.swiftmodule" \
        -emit-library -static -o "$library" "$@"
}

# build_target TARGET LIBRARY... : the fuzzer executable.
build_target() {
    local target=$1; shift
    local source="Fuzz/Targets/$target.swift"
    local binary="$BUILD/fuzz-$target"
    local libraries=() archives=()
    for library in "$@"; do
        libraries+=("-l$library")
        archives+=("$BUILD/lib/lib$library.a")
    done
    if [ -f "$binary" ] && [ -z "$(find "$source" "${archives[@]}" -newer "$binary")" ]; then return; fi
    echo "fuzz: linking $target"
    swiftc "${FLAGS[@]}" "$source" "${libraries[@]}" -lcurl -o "$binary"
}

build_module WebhookCore "" Sources/WebhookCore/*.swift
for target in "${TARGETS[@]}"; do
    case "$target" in
        request)
            build_module WorkerCore WebhookCore Sources/WorkerCore/*.swift
            build_target request WorkerCore WebhookCore ;;
        address) build_target address WebhookCore ;;
        retry-after) build_target retry-after WebhookCore ;;
        transcript)
            # The parser alone: the rest of the engine needs the pipeline and its packages.
            build_module FFmpegEngine "" Sources/FFmpegEngine/Transcript.swift
            build_target transcript FFmpegEngine ;;
        delivery-log)
            # The line type and reader; the writer needs swift-metrics.
            build_module DeliveryLog WebhookCore Sources/DeliveryLog/DeliveryLogLine.swift Sources/DeliveryLog/DeliveryLogLineReader.swift
            build_target delivery-log DeliveryLog WebhookCore ;;
        *) echo "fuzz: unknown target $target" >&2; exit 64 ;;
    esac
done

failed=0
summary=()
for target in "${TARGETS[@]}"; do
    corpus="Fuzz/corpus/$target"
    scratch="$BUILD/corpus/$target"
    mkdir -p "$corpus" "$scratch"
    dictionary=()
    [ -f "Fuzz/dict/$target.dict" ] && dictionary=(-dict="Fuzz/dict/$target.dict")
    log="$BUILD/logs/$target.log"
    echo "fuzz: running $target for ${SECONDS_EACH}s (log: $log)"
    # New inputs go to the scratch corpus (the first directory); the kept corpus seeds the run.
    # The Swift runtime's own crash reporter would race libFuzzer's; libFuzzer reports and saves the input.
    if ! SWIFT_BACKTRACE=enable=no "$BUILD/fuzz-$target" "$scratch" "$corpus" "${dictionary[@]}" -max_total_time="$SECONDS_EACH" -max_len=4096 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$BUILD/crashes/$target-" >"$log" 2>&1; then
        failed=1
        echo "fuzz: $target FOUND A CRASH:"
        grep -E "Fatal error|ERROR: |SUMMARY|Test unit written" "$log" | head -5
    fi
    # Keep the corpus small: the seeds, plus the fewest inputs that cover every edge reached so far
    # (greedy set cover over edges; comparison operands and hit counts are not kept as features).
    minimal="$BUILD/corpus/$target.min"
    rm -rf "$minimal" && mkdir -p "$minimal"
    cp "$corpus"/seed-* "$minimal"/ 2>/dev/null || true
    if SWIFT_BACKTRACE=enable=no "$BUILD/fuzz-$target" -set_cover_merge=1 -use_cmp=0 -use_counters=0 -max_len=4096 \
        "$minimal" "$corpus" "$scratch" >"$log.merge" 2>&1; then
        rm -rf "$corpus" && mv "$minimal" "$corpus"
    fi
    rm -rf "$scratch" "$minimal"
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
    # The last status line of the fuzzing run (not of the merge): "#N  DONE  cov: C ft: F corp: …".
    coverage=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)[[:space:]]+cov: ' "$log" | tail -1 \
        | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1 \2/')
    summary+=("$(printf '%-13s %12s execs  cov %-6s ft %-6s corpus %s' "$target" "$executions" ${coverage:-0 0} "$(ls "$corpus" | wc -l)")")
done

echo "fuzz: summary (${SECONDS_EACH}s each)"
for line in "${summary[@]}"; do echo "  $line"; done
if [ $failed -ne 0 ]; then echo "fuzz: crashes in $BUILD/crashes/"; exit 1; fi
