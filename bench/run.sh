#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# run.sh - the `make bench` driver: rampart's bulk ciphers against
# `openssl speed` on the same machine, case by case, then the key vault
# end to end (bench-vault).
#
#   bench/run.sh [BENCH_CRYPTO [SECONDS [BENCH_VAULT]]]
#
# BENCH_CRYPTO defaults to build/bench/bench-crypto, SECONDS (whole seconds
# per case and side, as `openssl speed -seconds` takes) to 3, BENCH_VAULT to
# bench-vault next to BENCH_CRYPTO. For every case both sides run back to
# back, rampart first, so they see the same machine state. Both sides divide
# by wall-clock time: bench-crypto and bench-vault use CLOCK_MONOTONIC and
# openssl is given -elapsed (by default it divides by user CPU time, which
# would flatter it whenever the machine is busy).
#
# The targets are reported as PASS/MISS, not asserted: the exit status is
# non-zero only when a program failed or its output could not be parsed.
#   - GCM at >= 64 KiB reaches 0.9 of openssl;
#   - RSA-3072 unwrap through the vault (4 threads, every call with its
#     durable audit record) reaches 0.8 of the private-key operations per
#     second of `openssl speed -multi 2 rsa3072` (its sign/s column: an
#     OAEP decrypt costs one private-key operation, like a sign);
#   - the audit log's group commit takes >= 20000 records/s from 64 threads.

set -eu
LC_ALL=C
export LC_ALL

bench=${1:-build/bench/bench-crypto}
seconds=${2:-3}
bench_vault=${3:-$(dirname "$bench")/bench-vault}
target=0.90
target_min_bytes=65536
sizes="4096 65536 1048576 4194304"
vault_threads=4
openssl_multi=2
target_rsa=0.80
audit_threads=64
target_audit=20000

die() {
	echo "run.sh: $*" >&2
	exit 1
}

case $seconds in
'' | *[!0-9]* | 0 | 0*) die "SECONDS must be a positive whole number, got '$seconds'" ;;
esac
[ -x "$bench" ] || die "$bench: not an executable (build it first, or pass its path)"
[ -x "$bench_vault" ] || die "$bench_vault: not an executable (build it first, or pass its path)"
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

# vault_rate MODE KTY THREADS - ops/s (unwrap) or records/s (audit) from
# bench-vault, which prints one line:
#   vault unwrap <kty> threads=N ops=C seconds=T ops_per_s=X
#   vault audit threads=N records=C seconds=T records_per_s=X
# KTY is empty for audit. The store lives under $tmp and is removed by
# bench-vault itself (and by the trap if it is killed).
vault_rate() {
	if [ "$1" = unwrap ]; then
		set -- "$1" "$2" "$3" ops_per_s --kty "$2"
	else
		set -- "$1" "$2" "$3" records_per_s
	fi
	mode=$1 kty=$2 threads=$3 key=$4
	shift 4
	if ! "$bench_vault" --mode "$mode" "$@" --threads "$threads" \
		--seconds "$seconds" --dir "$tmp" \
		>"$tmp/vault.out" 2>"$tmp/vault.err"; then
		cat "$tmp/vault.err" >&2
		die "bench-vault failed on $mode $kty threads=$threads"
	fi
	awk -v m="$mode" -v k="$kty" -v t="threads=$threads" -v key="$key" '
		$1 == "vault" && $2 == m && (m != "unwrap" || $3 == k) {
			seen_t = 0
			for (i = 3; i <= NF; i++) {
				if ($i == t) seen_t = 1
				if (index($i, key "=") == 1) {
					v = substr($i, length(key) + 2)
					if (v ~ /^[0-9]+(\.[0-9]+)?$/) { val = v; got = 1 }
				}
			}
			if (seen_t && got) found = 1
		}
		END { if (!found || val <= 0) exit 1; print val }' "$tmp/vault.out" ||
		die "cannot parse bench-vault output for $mode $kty: $(cat "$tmp/vault.out")"
}

# openssl_rsa_sign_s BITS MULTI - private-key operations per second from
# `openssl speed -multi MULTI rsaBITS` (summed over the MULTI processes).
# OpenSSL 3.0 prints, last:
#                     sign    verify    sign/s verify/s
#   rsa 3072 bits 0.001026s 0.000019s    974.2  51935.2
# The column is found by its "sign/s" header, not by position.
openssl_rsa_sign_s() {
	if ! openssl speed -elapsed -seconds "$seconds" -multi "$2" "rsa$1" \
		>"$tmp/openssl.out" 2>"$tmp/openssl.err"; then
		cat "$tmp/openssl.err" >&2
		die "openssl speed failed on rsa$1"
	fi
	awk -v b="$1" '
		col == 0 {
			for (i = 1; i <= NF; i++)
				if ($i == "sign/s") col = i + 3 # "rsa BITS bits" lead
		}
		col > 0 && $1 == "rsa" && $2 == b && $3 == "bits" && NF >= col &&
		$col ~ /^[0-9]+(\.[0-9]+)?$/ { v = $col; found = 1 }
		END { if (!found || v <= 0) exit 1; print v }' "$tmp/openssl.out" ||
		die "cannot parse openssl speed output for rsa$1: $(tail -n 2 "$tmp/openssl.out")"
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

echo
echo "rampart vault: ${seconds} s per case, wall clock, every call with its durable audit record"
echo "target: rsa-3072 unwrap ($vault_threads threads) reaches $target_rsa x openssl speed -multi $openssl_multi (sign/s)"
echo "target: audit group commit ($audit_threads threads) >= $target_audit records/s"
echo

: >"$tmp/vault-targets"
r=$(vault_rate unwrap aes-256 "$vault_threads")
printf '%-11s  %-7s %7s thr   rampart %9.1f ops/s\n' \
	aes-256 unwrap "$vault_threads" "$r"

r=$(vault_rate unwrap rsa-3072 "$vault_threads")
o=$(openssl_rsa_sign_s 3072 "$openssl_multi")
ratio=$(awk -v r="$r" -v o="$o" 'BEGIN { printf "%.2f", r / o }')
verdict=$(awk -v r="$r" -v o="$o" -v t="$target_rsa" \
	'BEGIN { print (r >= t * o) ? "PASS" : "MISS" }')
printf '%-11s  %-7s %7s thr   rampart %9.1f ops/s   openssl %9.1f ops/s   ratio %s\n' \
	rsa-3072 unwrap "$vault_threads" "$r" "$o" "$ratio"
printf '%-11s  %-7s %7s thr   ratio %s (target %s)   %s\n' \
	rsa-3072 unwrap "$vault_threads" "$ratio" "$target_rsa" "$verdict" \
	>>"$tmp/vault-targets"

r=$(vault_rate audit "" "$audit_threads")
verdict=$(awk -v r="$r" -v t="$target_audit" \
	'BEGIN { print (r >= t) ? "PASS" : "MISS" }')
printf '%-11s  %-7s %7s thr   rampart %9.1f rec/s   target  %9.1f rec/s\n' \
	audit append "$audit_threads" "$r" "$target_audit"
printf '%-11s  %-7s %7s thr   %.1f rec/s (target %s)   %s\n' \
	audit append "$audit_threads" "$r" "$target_audit" "$verdict" \
	>>"$tmp/vault-targets"

echo
echo "vault targets:"
cat "$tmp/vault-targets"
total=$(wc -l <"$tmp/vault-targets")
misses=$(grep -c ' MISS$' "$tmp/vault-targets" || true)
if [ "$misses" -eq 0 ]; then
	echo "summary: PASS - the vault met all $total targets"
else
	echo "summary: MISS - the vault missed $misses of $total targets"
fi
exit 0
