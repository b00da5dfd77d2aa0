#!/bin/bash
# Runs the libFuzzer harnesses that `make fuzz` and `make fuzz-regress`
# built, one after the other (the machine's cores are shared).
#
#   t/fuzz/run.sh fuzz SECONDS build/fuzz/fuzz_NAME...
#       each harness fuzzes for SECONDS from a fresh copy of its seeds,
#       t/fuzz/corpus/NAME/, in build/fuzz/corpus/NAME/ (what it finds
#       stays out of the tree), with t/fuzz/NAME.dict when there is one;
#       a crash is saved under build/fuzz/crashes/NAME/ and printed with
#       how to reproduce it and how to keep it as a regression input
#   t/fuzz/run.sh regress 0 build/fuzz/fuzz_NAME...
#       each harness runs once on each input of t/fuzz/corpus/NAME/
#
# Prints a line a harness (executions, coverage) and writes them to
# build/fuzz/summary.txt; exits 1 when a harness crashed.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZ_DIR=${FUZZ_DIR:-$ROOT/build/fuzz}

# a report with its stack; ASan's defaults otherwise (leaks are errors)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

mode=$1
seconds=$2
shift 2

mkdir -p "$FUZZ_DIR/logs"
summary=$FUZZ_DIR/summary.txt
: > "$summary"
failed=()
start=$SECONDS

# the last figure of libFuzzer's status lines: "cov: 123 ft: 456 corp: 7/89b"
figure() {
    grep -o "$1: [0-9/a-zA-Z]*" "$2" | tail -n 1 | sed "s/^$1: //"
}

report_crash() {
    local name=$1 bin=$2 log=$3 crash
    crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    if [ -z "$crash" ]; then
        # a regression run: the input it was running
        crash=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
    fi

    echo "--- $name: the end of its log ($log)"
    tail -n 60 "$log"
    echo "--- $name: CRASH"
    if [ -n "$crash" ] && [ -f "$crash" ]; then
        echo "input:      $crash ($(stat -c %s "$crash") bytes)"
        echo "base64:     $(head -c 512 "$crash" | base64 -w 0)"
        echo "reproduce:  $bin $crash"
        case $crash in
            "$ROOT"/t/fuzz/corpus/*) ;;
            *) echo "keep it:    cp $crash" \
                    "$ROOT/t/fuzz/corpus/$name/regress-WHAT"
               echo "            (with the fix; make fuzz-regress runs it)" ;;
        esac
    else
        echo "no input saved: see the log"
    fi
}

for bin in "$@"; do
    name=${bin##*/fuzz_}
    seeds=$ROOT/t/fuzz/corpus/$name
    log=$FUZZ_DIR/logs/$name.$mode.log

    if ! compgen -G "$seeds/*" >/dev/null; then
        echo "$name: no seeds in t/fuzz/corpus/$name/" | tee -a "$summary"
        failed+=("$name")
        continue
    fi

    if [ "$mode" = regress ]; then
        n=$(find "$seeds" -maxdepth 1 -type f | wc -l)
        if "$bin" "$seeds"/* >"$log" 2>&1; then
            printf '%-12s %5d inputs passed\n' "$name" "$n" | tee -a "$summary"
        else
            report_crash "$name" "$bin" "$log"
            printf '%-12s FAILED on an input of t/fuzz/corpus/%s\n' \
                "$name" "$name" | tee -a "$summary"
            failed+=("$name")
        fi
        continue
    fi

    work=$FUZZ_DIR/corpus/$name
    crashes=$FUZZ_DIR/crashes/$name
    rm -rf "$work"
    mkdir -p "$work" "$crashes"
    cp "$seeds"/* "$work"/

    dict=()
    if [ -f "$ROOT/t/fuzz/$name.dict" ]; then
        dict=(-dict="$ROOT/t/fuzz/$name.dict")
    fi

    echo "=== fuzz_$name: $seconds s from $(ls "$seeds" | wc -l) seeds"

    "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$crashes/" "${dict[@]}" \
        "$work" >"$log" 2>&1
    rc=$?

    # cov: edges covered of the instrumented ones (the PC table's size)
    execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: //p' "$log")
    pcs=$(sed -n 's/.*PC tables* (\([0-9]*\) PCs).*/\1/p' "$log" | head -n 1)
    line=$(printf '%-12s %11s execs %7s/s  cov %9s  ft %6s  corpus %s' \
           "$name" "${execs:-?}" "${rate:-?}" \
           "$(figure cov "$log")/${pcs:-?}" "$(figure ft "$log")" \
           "$(figure corp "$log")")

    if [ $rc -ne 0 ]; then
        report_crash "$name" "$bin" "$log"
        line="$line  CRASH (rc $rc)"
        failed+=("$name")
    fi

    echo "$line" | tee -a "$summary"
done

echo "$mode: ${#failed[@]} of $# harness(es) failed in $((SECONDS - start)) s" \
    | tee -a "$summary"

if [ ${#failed[@]} -ne 0 ]; then
    echo "$mode: FAILED: ${failed[*]}"
    exit 1
fi
