#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Run each libFuzzer target for a bounded time.
# usage: fuzz.sh BUILD_DIR SECONDS TARGET...
# Seeds come from tests/fuzz/corpus/<target>/ (committed); new inputs the
# fuzzer finds go to a scratch corpus under BUILD_DIR, crashes to
# BUILD_DIR/fuzz-artifacts/ and fail the run.
set -eu
build=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/fuzz-artifacts"
status=0
for t in "$@"; do
	work="$build/fuzz-corpus/$t"
	mkdir -p "$work"
	seeds="$root/tests/fuzz/corpus/$t"
	[ -d "$seeds" ] || seeds=
	printf 'fuzz-%s: ' "$t"
	if "$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=20 \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$build/fuzz-artifacts/$t-" \
		"$work" $seeds >"$build/fuzz-$t.log" 2>&1; then
		grep -E '^stat::number_of_executed_units' "$build/fuzz-$t.log" |
			sed 's/stat::number_of_executed_units: */ok, runs: /'
	else
		echo "FAILED (see $build/fuzz-$t.log)"
		tail -n 40 "$build/fuzz-$t.log"
		status=1
	fi
done
exit $status
