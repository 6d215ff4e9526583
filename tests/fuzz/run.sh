#!/usr/bin/env bash
# run.sh - builds the libFuzzer target of the request validation (src/api/validate.c) with
# clang -fsanitize=fuzzer,address,undefined in a temporary directory and runs it for
# FUZZ_SECONDS (default 30) on a seed corpus made from tests/data/bad_requests.json and
# tests/fuzz/corpus/. Prints "ok - ..." / "not ok - ..."; exits 77 when clang or libFuzzer
# is missing. FUZZ_KEEP=DIR keeps the grown corpus and any crash files in DIR.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${FUZZ_SECONDS:-30}
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "ok - # SKIP $CC not installed (apt-get install clang)"; exit 77
fi
work=$(mktemp -d /tmp/amcb-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cflags=$(pkg-config --cflags jansson icu-i18n icu-uc 2>/dev/null)
libs=$(pkg-config --libs jansson icu-i18n icu-uc 2>/dev/null || echo -ljansson -licui18n -licuuc -licudata)

# libFuzzer present? (Debian: libclang-rt-NN-dev)
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' > "$work/probe.c"
if ! "$CC" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
	echo "ok - # SKIP libFuzzer runtime missing (apt-get install libclang-rt-dev)"; exit 77
fi

if ! "$CC" -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -I"$top/src/core" -I"$top/src/api" $cflags \
	"$top/tests/fuzz/fuzz_validate.c" "$top/src/api/validate.c" "$top/src/core/params.c" \
	"$top/src/core/ids.c" "$top/src/core/window.c" "$top/src/core/tz.c" \
	"$top/src/core/strbuf.c" "$top/src/core/alloc.c" $libs -lm \
	-o "$work/fuzz_validate" 2> "$work/build.log"; then
	echo "not ok - fuzz: build failed"; sed 's/^/# /' "$work/build.log" | head -n 30; exit 1
fi
echo "ok - fuzz: target built with ASan, UBSan and libFuzzer"

# seed corpus: every body of the bad-request table with the fuzz target's instance ids
mkdir -p "$work/corpus" "$work/crash"
cp "$top"/tests/fuzz/corpus/* "$work/corpus/" 2>/dev/null
/usr/bin/python3 - "$top/tests/data/bad_requests.json" "$work/corpus" <<'PY'
import json, sys
subst = {"{I1}": "20000000-0000-4000-8000-000000000001", "{I2}": "20000000-0000-4000-8000-000000000002",
         "{IA}": "20000000-0000-4000-8000-00000000000a", "{IA_UPPER}": "20000000-0000-4000-8000-00000000000A",
         "{MI}": "20000000-0000-4000-8000-000000000002", "{UNKNOWN}": "90000000-0000-4000-8000-000000000009"}
def s(v):
    if isinstance(v, str):
        for k, x in subst.items():
            v = v.replace(k, x)
        return v
    if isinstance(v, list):
        return [s(x) for x in v]
    if isinstance(v, dict):
        return {s(k): s(x) for k, x in v.items()}
    return v
n = 0
for c in json.load(open(sys.argv[1])):
    if "raw" in c:
        data = s(c["raw"]).encode()
    elif "raw_hex" in c:
        data = bytes.fromhex(c["raw_hex"])
    elif "body" in c:
        data = json.dumps(s(c["body"])).encode()
    else:
        continue
    open("%s/table-%03d" % (sys.argv[2], n), "wb").write(data)
    n += 1
PY
echo "ok - fuzz: seed corpus of $(ls "$work/corpus" | wc -l) inputs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$work/crash" && "$work/fuzz_validate" -max_total_time="$secs" -max_len=16384 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 "$work/corpus") > "$work/fuzz.log" 2>&1
rc=$?
if [ -n "${FUZZ_KEEP:-}" ]; then mkdir -p "$FUZZ_KEEP" && cp -r "$work/corpus" "$work/crash" "$FUZZ_KEEP/"; fi
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/fuzz.log" | grep -o '[0-9]*$')
if [ "$rc" -eq 0 ]; then
	echo "ok - fuzz: validate_exec_all ${secs}s, ${runs:-?} inputs, no crash, leak or UB"
else
	echo "not ok - fuzz: validate_exec_all failed (exit $rc)"
	grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$work/fuzz.log" | head -n 10 | sed 's/^/# /'
	for f in "$work"/crash/crash-* "$work"/crash/leak-* "$work"/crash/timeout-*; do
		[ -e "$f" ] && echo "# input: $(head -c 300 "$f" | od -An -c | head -n 5 | tr -s ' ')"
	done
	exit 1
fi
