#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# run.sh - the `make bench` driver: rampart's bulk ciphers against
# `openssl speed` on the same machine, case by case.
#
#   bench/run.sh [BENCH_CRYPTO [SECONDS]]
#
# BENCH_CRYPTO defaults to build/bench/bench-crypto, SECONDS (whole seconds
# per case and side, as `openssl speed -seconds` takes) to 3. For every case
# both sides run back to back, rampart first, so they see the same machine
# state. Both sides divide by wall-clock time: bench-crypto uses
# CLOCK_MONOTONIC and openssl is given -elapsed (by default it divides by
# user CPU time, which would flatter it whenever the machine is busy).
#
# The target (GCM at >= 64 KiB reaching 0.9 of openssl) is reported as
# PASS/MISS, not asserted: the exit status is non-zero only when a program
# failed or its output could not be parsed.

set -eu
LC_ALL=C
export LC_ALL

bench=${1:-build/bench/bench-crypto}
seconds=${2:-3}
target=0.90
target_min_bytes=65536
sizes="4096 65536 1048576 4194304"

die() {
	echo "run.sh: $*" >&2
	exit 1
}

case $seconds in
'' | *[!0-9]* | 0 | 0*) die "SECONDS must be a positive whole number, got '$seconds'" ;;
esac
[ -x "$bench" ] || die "$bench: not an executable (build it first, or pass its path)"
command -v openssl >/dev/null 2>&1 || die "openssl: command not found"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# rampart_mbps ALG OP BYTES - MB/s from bench-crypto for one case.
rampart_mbps() {
	if ! "$bench" --seconds "$seconds" --alg "$1" --op "$2" --bytes "$3" \
		>"$tmp/rampart.out" 2>"$tmp/rampart.err"; then
		cat "$tmp/rampart.err" >&2
		die "bench-crypto failed on $1 $2 $3"
	fi
	awk -v a="$1" -v o="$2" -v n="$3" '
		$1 == "rampart" && $2 == a && $3 == o && $4 == n && NF == 5 &&
		$5 ~ /^[0-9]+(\.[0-9]+)?$/ { v = $5; found = 1 }
		END { if (!found) exit 1; print v }' "$tmp/rampart.out" ||
		die "cannot parse bench-crypto output for $1 $2 $3: $(cat "$tmp/rampart.out")"
}

# openssl_mbps ALG DECRYPT BYTES - MB/s from `openssl speed` for one case.
# openssl prints, last, a table of one row per algorithm:
#   type           65536 bytes
#   AES-256-GCM    3603023.64k
# The value is in 1000s of bytes per second with a "k" suffix; values of
# 10000 bytes/s or less are printed without it, in bytes per second.
openssl_mbps() {
	# $2 is either empty or -decrypt; it is left unquoted on purpose.
	# shellcheck disable=SC2086
	if ! openssl speed -elapsed -seconds "$seconds" -bytes "$3" $2 -evp "$1" \
		>"$tmp/openssl.out" 2>"$tmp/openssl.err"; then
		cat "$tmp/openssl.err" >&2
		die "openssl speed failed on $1 $2 $3"
	fi
	awk -v a="$1" '
		toupper($1) == toupper(a) && NF == 2 { v = $2; found = 1 }
		END {
			if (!found) exit 1
			if (v ~ /^[0-9]+(\.[0-9]+)?k$/) {
				sub(/k$/, "", v); mbps = v / 1000
			} else if (v ~ /^[0-9]+(\.[0-9]+)?$/) {
				mbps = v / 1000000
			} else {
				exit 1
			}
			if (mbps <= 0) exit 1
			printf "%.1f\n", mbps
		}' "$tmp/openssl.out" ||
		die "cannot parse openssl speed output for $1 $2 $3: $(tail -n 1 "$tmp/openssl.out")"
}

ossl_version=$(openssl version)
echo "rampart vs openssl speed: ${seconds} s per case and side, wall clock, MB = 10^6 bytes"
echo "openssl: $ossl_version"
echo "target: aes-256-gcm at >= $target_min_bytes B reaches $target x openssl"
echo

: >"$tmp/targets"
for spec in aes-256-gcm:seal: aes-256-gcm:open:-decrypt \
	aes-256-xts:encrypt: aes-256-xts:decrypt:-decrypt; do
	alg=${spec%%:*}
	rest=${spec#*:}
	op=${rest%%:*}
	flag=${rest#*:}
	for n in $sizes; do
		r=$(rampart_mbps "$alg" "$op" "$n")
		o=$(openssl_mbps "$alg" "$flag" "$n")
		ratio=$(awk -v r="$r" -v o="$o" 'BEGIN { printf "%.2f", r / o }')
		printf '%-11s  %-7s %7s B   rampart %7.1f MB/s   openssl %7.1f MB/s   ratio %s\n' \
			"$alg" "$op" "$n" "$r" "$o" "$ratio"
		if [ "$alg" = aes-256-gcm ] && [ "$n" -ge "$target_min_bytes" ]; then
			verdict=$(awk -v r="$r" -v o="$o" -v t="$target" \
				'BEGIN { print (r >= t * o) ? "PASS" : "MISS" }')
			printf '%-11s  %-7s %7s B   ratio %s   %s\n' \
				"$alg" "$op" "$n" "$ratio" "$verdict" >>"$tmp/targets"
		fi
	done
done

echo
echo "target aes-256-gcm >= $target_min_bytes B at >= $target x openssl:"
cat "$tmp/targets"
total=$(wc -l <"$tmp/targets")
misses=$(grep -c ' MISS$' "$tmp/targets" || true)
if [ "$misses" -eq 0 ]; then
	echo "summary: PASS - GCM >= 64 KiB met the $target target in all $total cases"
else
	echo "summary: MISS - GCM >= 64 KiB missed the $target target in $misses of $total cases"
fi
exit 0
