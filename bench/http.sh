#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# http.sh - rampartd over HTTPS on loopback, the "rampartd" section of
# `make bench` (bench/run.sh calls it last); it also runs alone:
#
#   bench/http.sh [BUILD]
#
# BUILD (default build) holds src/rampart, src/rampartd/rampartd,
# bench/bench-http and bench/bench-files. One fresh store and one rampartd
# (default configuration, a throwaway P-256 certificate, --listen
# 127.0.0.1:0) serve every case; bench-http (an OpenSSL client: keep-alive,
# TLS 1.3, the certificate verified) is the load. Environment:
# BENCH_HTTP_BYTES (default 268435456, 256 MiB) the file size,
# BENCH_HTTP_SECONDS (default 5) per case, BENCH_HTTP_UNWRAP_CONNECTIONS
# (default "8 16 32"). Everything lives in one temporary directory (under
# $TMPDIR or /tmp), removed at the end with the servers stopped.
#
# 1. Download. One random file is uploaded to rampartd (with the rampart
#    CLI in remote mode, timed and shown), read back once and compared,
#    then downloaded for BENCH_HTTP_SECONDS with 1 and with 2 connections;
#    the same plaintext, served by nginx (its default of one worker
#    process, TLS 1.3 only, the same certificate, sendfile on, access_log
#    off), is downloaded the same way right after each rampartd case.
#    Both negotiate the same cipher suite (printed). Target:
#    rampartd/nginx >= 0.45, at each connection count.
#    Why 0.5 is the ceiling on one core: for every byte it serves,
#    rampartd decrypts the chunk (AES-256-GCM, authenticated first) and
#    then encrypts it again for TLS (AES-256-GCM), while nginx only does
#    the TLS encryption of a file it reads from the page cache (sendfile
#    does not apply to TLS without kernel TLS). Both are bound by AES-GCM
#    passes over the data plus a copy or two, so on one server core
#    rampartd does twice nginx's work per byte: 0.5 is the limit, 0.45
#    leaves 10% for everything else (HTTP, the chunk map, the handoff
#    between threads). rampartd decrypts on a worker thread and encrypts
#    TLS on its event-loop thread, so with a second core free it can
#    pipeline the two and exceed 0.5; on this benchmark the client, which
#    decrypts TLS, competes for the same cores.
# 2. Upload. bench-http PUTs BENCH_HTTP_BYTES random bytes again and again,
#    each to a new path (so that nothing is reused from a previous
#    version), 1 connection. Shown against two puts of the library,
#    run in the same script:
#      - bench-files --mode lib: rp_file_put in-process to an in-memory
#        blob store (no disk I/O, no HTTP, no TLS): the library's ceiling;
#      - `rampart file put` (embedded mode, no server) of a file of the
#        same size into a fresh store on the same filesystem: the same
#        library path writing durable blobs (fsync) like rampartd does.
#    Both library figures are the median of 3 puts (bench-files and
#    `make bench`'s files section do the same).
#    rampartd/CLI is the fair ratio (same disk work; the difference is
#    HTTP, TLS and the server's pipeline); rampartd/library shows the
#    whole cost of the disk and the network path together. No target.
# 3. Key unwrap. POST /v1/vaults/bench/keys/kek/unwrap of one wrapped
#    32-byte key (AES-256 KWP), every call with its durable audit record,
#    with 8, 16 and 32 keep-alive connections (closed loop); every answer
#    must carry the right plaintext. The best requests/s is judged with its
#    own latency percentiles. Targets: >= 10000 requests/s, p99 < 5 ms.
#
# Targets are reported PASS/MISS, never asserted: the exit status is
# non-zero only when a program failed or its output could not be parsed.
# Both sides of every comparison divide by wall-clock time; bench-http's
# cpu_seconds (its own CPU time) is shown so a client-bound case shows.

set -eu
LC_ALL=C
export LC_ALL
# The rampart CLI would prefer these to the files and flags given below.
unset RAMPART_TOKEN RAMPART_SERVER RAMPART_CACERT RAMPART_DATA

build=${1:-build}
rampart=$build/src/rampart
rampartd=$build/src/rampartd/rampartd
bench_http=$build/bench/bench-http
bench_files=$build/bench/bench-files
file_bytes=${BENCH_HTTP_BYTES:-268435456}
seconds=${BENCH_HTTP_SECONDS:-5}
unwrap_conns=${BENCH_HTTP_UNWRAP_CONNECTIONS:-"8 16 32"}
download_conns="1 2"
put_repeat=3
target_download=0.45
target_unwrap_rps=10000
target_unwrap_p99_ms=5
secret_bytes=32
start_timeout=30

die() {
	echo "http.sh: $*" >&2
	exit 1
}

for p in "$rampart" "$rampartd" "$bench_http" "$bench_files"; do
	[ -x "$p" ] || die "$p: not an executable (build it first, or pass BUILD)"
done
case $file_bytes in
'' | *[!0-9]* | 0 | 0*) die "BENCH_HTTP_BYTES must be a positive whole number, got '$file_bytes'" ;;
esac
case $seconds in
'' | *[!0-9]* | 0 | 0*) die "BENCH_HTTP_SECONDS must be a positive whole number, got '$seconds'" ;;
esac
command -v openssl >/dev/null 2>&1 || die "openssl: command not found"
command -v nginx >/dev/null 2>&1 || die "nginx: command not found (scripts/deps.sh installs nginx-light)"
command -v basenc >/dev/null 2>&1 || die "basenc: command not found (coreutils >= 8.31)"

tmp=$(mktemp -d)
rampartd_pid=
nginx_pid=
# stop PID - SIGTERM a server we started, and wait for it. (Both functions
# run from the EXIT trap.)
# shellcheck disable=SC2317
stop() {
	if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}
# shellcheck disable=SC2317
cleanup() {
	stop "$nginx_pid"
	stop "$rampartd_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() {
	date +%s.%N
}

# field KEY FILE - the value of KEY=... in bench-http's one-line output.
field() {
	awk -v k="$1" '
		$1 == "http" {
			for (i = 3; i <= NF; i++)
				if (index($i, k "=") == 1) { v = substr($i, length(k) + 2); found = 1 }
		}
		END { if (!found || v == "") exit 1; print v }' "$2" ||
		die "cannot parse $1 from bench-http output: $(cat "$2")"
}

# http NAME ARGS... - run bench-http; its output goes to $tmp/NAME.out.
http() {
	name=$1
	shift
	if ! "$bench_http" --cacert "$tmp/cert.pem" --seconds "$seconds" "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err"; then
		cat "$tmp/$name.err" >&2
		die "bench-http failed ($name)"
	fi
}

json_token() {
	sed -n 's/.*"token":"\([^"]*\)".*/\1/p' "$1"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
}
verdict() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { print (a >= t * b) ? "PASS" : "MISS" }'
}
mbps() {
	awk -v n="$file_bytes" -v s="$1" 'BEGIN { printf "%.1f\n", n / s / 1e6 }'
}

# ---- setup -----------------------------------------------------------------

umask 077
big=$tmp/www/big
mkdir "$tmp/www" "$tmp/nginx"
key=$(openssl rand -hex 32)
iv=$(openssl rand -hex 16)
openssl enc -aes-256-ctr -nosalt -K "$key" -iv "$iv" -in /dev/zero 2>/dev/null |
	head -c "$file_bytes" >"$big"
[ "$(wc -c <"$big")" -eq "$file_bytes" ] || die "could not write $file_bytes random bytes"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/openssl.err" ||
	die "openssl req failed: $(cat "$tmp/openssl.err")"

# The store: principal "bench" owns tenant "bench" and vault "bench" with
# an AES-256 key. Tokens go through the environment and files, never argv.
data=$tmp/data
"$rampart" init --data "$data" --json >"$tmp/init.json" 2>"$tmp/init.err" ||
	die "rampart init failed: $(cat "$tmp/init.err")"
json_token "$tmp/init.json" >"$tmp/admin.token"
[ -s "$tmp/admin.token" ] || die "no token in the output of rampart init"
RAMPART_DATA=$data
export RAMPART_DATA
RAMPART_TOKEN_FILE=$tmp/admin.token
export RAMPART_TOKEN_FILE
"$rampart" principal create bench --json >"$tmp/principal.json" 2>"$tmp/cli.err" ||
	die "rampart principal create failed: $(cat "$tmp/cli.err")"
json_token "$tmp/principal.json" >"$tmp/user.token"
[ -s "$tmp/user.token" ] || die "no token in the output of rampart principal create"
"$rampart" tenant create bench --owner bench >/dev/null 2>"$tmp/cli.err" ||
	die "rampart tenant create failed: $(cat "$tmp/cli.err")"
"$rampart" vault create bench --owner bench >/dev/null 2>"$tmp/cli.err" ||
	die "rampart vault create failed: $(cat "$tmp/cli.err")"
RAMPART_TOKEN_FILE=$tmp/user.token
"$rampart" key create bench/kek --kty aes-256 >/dev/null 2>"$tmp/cli.err" ||
	die "rampart key create failed: $(cat "$tmp/cli.err")"
head -c "$secret_bytes" /dev/urandom >"$tmp/secret"
"$rampart" key wrap bench/kek --alg A256KWP --in "$tmp/secret" --out "$tmp/wrapped" \
	2>"$tmp/cli.err" || die "rampart key wrap failed: $(cat "$tmp/cli.err")"
wrapped=$(basenc --base64url -w 0 "$tmp/wrapped" | tr -d '=')
secret=$(basenc --base64url -w 0 "$tmp/secret" | tr -d '=')
unset RAMPART_DATA

"$rampartd" --data "$data" --listen 127.0.0.1:0 --cert "$tmp/cert.pem" \
	--key "$tmp/key.pem" --port-file "$tmp/port" >"$tmp/rampartd.log" 2>&1 &
rampartd_pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	kill -0 "$rampartd_pid" 2>/dev/null ||
		die "rampartd exited: $(tail -n 5 "$tmp/rampartd.log")"
	i=$((i + 1))
	[ "$i" -le $((start_timeout * 10)) ] || die "rampartd did not start"
	sleep 0.1
done
port=$(cat "$tmp/port")
url=https://127.0.0.1:$port

# nginx serves $tmp/www on a random high port; one that is taken is
# detected (nginx exits with "Address already in use") and another tried.
nginx_port=
for attempt in 1 2 3 4 5 6 7 8 9 10; do
	p=$(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000))
	cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user $(id -un) $(id -gn);
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	sendfile on;
	keepalive_requests 1000000;
	keepalive_timeout 120s;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	types { application/octet-stream big; }
	server {
		listen 127.0.0.1:$p ssl;
		ssl_certificate $tmp/cert.pem;
		ssl_certificate_key $tmp/key.pem;
		ssl_protocols TLSv1.3;
		root $tmp/www;
	}
}
EOF
	nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" >"$tmp/nginx/out" 2>&1 &
	nginx_pid=$!
	i=0
	while [ "$i" -lt 50 ] && kill -0 "$nginx_pid" 2>/dev/null &&
		[ ! -s "$tmp/nginx/nginx.pid" ]; do
		i=$((i + 1))
		sleep 0.1
	done
	if kill -0 "$nginx_pid" 2>/dev/null && [ -s "$tmp/nginx/nginx.pid" ]; then
		nginx_port=$p
		break
	fi
	wait "$nginx_pid" 2>/dev/null || true
	nginx_pid=
	grep -q 'Address already in use' "$tmp/nginx/out" "$tmp/nginx/error.log" 2>/dev/null ||
		die "nginx did not start: $(cat "$tmp/nginx/out" "$tmp/nginx/error.log" 2>/dev/null)"
	echo "nginx: port $p taken (attempt $attempt), trying another" >&2
done
[ -n "$nginx_port" ] || die "nginx found no free port"
# nginx's `user` line names whoever runs this script: a root master's
# workers would otherwise run as nobody, who cannot read $tmp (0700); for
# another user nginx ignores the line.

echo "rampartd over HTTPS: loopback, TLS 1.3, keep-alive, MB = 10^6 bytes, wall clock, $seconds s per case"
echo "rampartd $url (default configuration), nginx https://127.0.0.1:$nginx_port (1 worker); file of $file_bytes bytes"
echo "target: download >= $target_download x nginx (same file, same certificate and TLS version)"
echo "target: AES-256 KWP unwrap >= $target_unwrap_rps requests/s with p99 < $target_unwrap_p99_ms ms"
echo "machine: $(nproc) CPUs,$(uptime | sed 's/.*,  *load/ load/')"
echo

: >"$tmp/targets"

# ---- 1. download -------------------------------------------------------------

RAMPART_TOKEN_FILE=$tmp/user.token
t0=$(now)
"$rampart" file put bench/site/big -i "$big" --server "$url" --cacert "$tmp/cert.pem" \
	>/dev/null 2>"$tmp/cli.err" || die "rampart file put (remote) failed: $(cat "$tmp/cli.err")"
t1=$(now)
up_cli=$(mbps "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
"$rampart" file get bench/site/big --server "$url" --cacert "$tmp/cert.pem" \
	2>"$tmp/cli.err" | cmp -s - "$big" ||
	die "the file read back through rampartd differs: $(cat "$tmp/cli.err")"
printf '%-34s %9s MB/s   (rampart file put --server, once; read back and compared)\n' \
	"upload for the download cases" "$up_cli"

for n in $download_conns; do
	http "get-rampartd-$n" --mode get --url "$url/v1/tenants/bench/sites/site/files/big" \
		--token-file "$tmp/user.token" --connections "$n" --expect-bytes "$file_bytes"
	http "get-nginx-$n" --mode get --url "https://127.0.0.1:$nginx_port/big" \
		--connections "$n" --expect-bytes "$file_bytes"
	r=$(field MB_s "$tmp/get-rampartd-$n.out")
	o=$(field MB_s "$tmp/get-nginx-$n.out")
	printf '%-34s %9s MB/s   nginx %9s MB/s   ratio %s   (%s requests; client CPU %s s vs %s s; %s)\n' \
		"download, $n connection(s)" "$r" "$o" "$(ratio "$r" "$o")" \
		"$(field requests "$tmp/get-rampartd-$n.out")" \
		"$(field cpu_seconds "$tmp/get-rampartd-$n.out")" \
		"$(field cpu_seconds "$tmp/get-nginx-$n.out")" \
		"$(field cipher "$tmp/get-rampartd-$n.out")"
	printf '%-34s ratio %s (target %s)   %s\n' "download $n conn / nginx" \
		"$(ratio "$r" "$o")" "$target_download" "$(verdict "$r" "$o" "$target_download")" \
		>>"$tmp/targets"
done

# ---- 2. upload ---------------------------------------------------------------

# The library in memory first, then on disk, then rampartd, each after a
# sync so that none pays for the writeback of the one before.
sync
if ! "$bench_files" --mode lib --bytes "$file_bytes" --repeat "$put_repeat" --dir "$tmp" \
	>"$tmp/lib.out" 2>"$tmp/lib.err"; then
	cat "$tmp/lib.err" >&2
	die "bench-files --mode lib failed"
fi
put_lib=$(awk '$1 == "files" && $2 == "lib" && $3 == "put" {
		for (i = 4; i <= NF; i++) if (index($i, "MB_s=") == 1) { v = substr($i, 6); found = 1 } }
	END { if (!found) exit 1; print v }' "$tmp/lib.out") ||
	die "cannot parse bench-files output: $(cat "$tmp/lib.out")"
lib_cpu=$(awk '$1 == "files" && $2 == "lib" && $3 == "put" {
		for (i = 4; i <= NF; i++) {
			if (index($i, "seconds=") == 1) w = substr($i, 9)
			if (index($i, "cpu_seconds=") == 1) c = substr($i, 13)
		} }
	END { if (w > 0) printf "%.0f%%\n", 100 * c / w; else print "?" }' "$tmp/lib.out")

# The library on disk: the CLI into a fresh store of its own (rampartd
# holds the first one), same filesystem.
cli_data=$tmp/cli-data
"$rampart" init --data "$cli_data" --json >"$tmp/cli-init.json" 2>"$tmp/cli.err" ||
	die "rampart init failed: $(cat "$tmp/cli.err")"
json_token "$tmp/cli-init.json" >"$tmp/cli-admin.token"
RAMPART_DATA=$cli_data RAMPART_TOKEN_FILE=$tmp/cli-admin.token \
	"$rampart" tenant create bench >/dev/null 2>"$tmp/cli.err" ||
	die "rampart tenant create failed: $(cat "$tmp/cli.err")"
: >"$tmp/cli-put.times"
i=0
while [ "$i" -lt "$put_repeat" ]; do
	sync
	t0=$(now)
	RAMPART_DATA=$cli_data RAMPART_TOKEN_FILE=$tmp/cli-admin.token \
		"$rampart" file put "bench/site/big-$i" -i "$big" >/dev/null 2>"$tmp/cli.err" ||
		die "rampart file put (embedded) failed: $(cat "$tmp/cli.err")"
	t1=$(now)
	mbps "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" >>"$tmp/cli-put.times"
	i=$((i + 1))
done
put_cli=$(sort -n "$tmp/cli-put.times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
rm -rf "$cli_data"

sync
http put-rampartd --mode put --url "$url/v1/tenants/bench/sites/site/files/put/{n}" \
	--token-file "$tmp/user.token" --connections 1 --bytes "$file_bytes"
put_http=$(field MB_s "$tmp/put-rampartd.out")

printf '%-34s %9s MB/s   (%s puts of new files, 1 connection, p50 %s ms, client CPU %s s)\n' \
	"upload through rampartd" "$put_http" "$(field requests "$tmp/put-rampartd.out")" \
	"$(field p50_ms "$tmp/put-rampartd.out")" "$(field cpu_seconds "$tmp/put-rampartd.out")"
printf '%-34s %9s MB/s   rampartd / this: %s   (median of %s; same library, durable blobs, no HTTP/TLS)\n' \
	"rampart file put (embedded, disk)" "$put_cli" "$(ratio "$put_http" "$put_cli")" "$put_repeat"
printf '%-34s %9s MB/s   rampartd / this: %s   (median of %s, on CPU %s of the time; in-memory blob store: no disk, no HTTP/TLS)\n' \
	"library put (bench-files, memory)" "$put_lib" "$(ratio "$put_http" "$put_lib")" "$put_repeat" "$lib_cpu"

# ---- 3. key unwrap -----------------------------------------------------------

best_rps=0
best_n=
for n in $unwrap_conns; do
	http "unwrap-$n" --mode post --url "$url/v1/vaults/bench/keys/kek/unwrap" \
		--token-file "$tmp/user.token" --connections "$n" \
		--body "{\"value\":\"$wrapped\",\"alg\":\"A256KWP\"}" \
		--expect-substring "\"value\":\"$secret\""
	rps=$(field req_s "$tmp/unwrap-$n.out")
	printf '%-34s %9s req/s  p50 %s ms   p99 %s ms   max %s ms   (client CPU %s s)\n' \
		"unwrap, $n connections" "$rps" "$(field p50_ms "$tmp/unwrap-$n.out")" \
		"$(field p99_ms "$tmp/unwrap-$n.out")" "$(field max_ms "$tmp/unwrap-$n.out")" \
		"$(field cpu_seconds "$tmp/unwrap-$n.out")"
	# The connection count that is judged: the fastest one whose own p99
	# meets the latency target, else the fastest one.
	p=$(field p99_ms "$tmp/unwrap-$n.out")
	ok=$(awk -v a="$p" -v t="$target_unwrap_p99_ms" 'BEGIN { print (a < t) ? 1 : 0 }')
	if awk -v a="$rps" -v b="$best_rps" -v ok="$ok" -v bok="${best_ok:-0}" \
		'BEGIN { exit !((ok > bok) || (ok == bok && a > b)) }'; then
		best_rps=$rps
		best_n=$n
		best_ok=$ok
	fi
done
p99=$(field p99_ms "$tmp/unwrap-$best_n.out")
printf '%-34s %s req/s at %s connections (target %s)   %s\n' "unwrap requests/s (judged)" \
	"$best_rps" "$best_n" "$target_unwrap_rps" \
	"$(verdict "$best_rps" "$target_unwrap_rps" 1)" >>"$tmp/targets"
printf '%-34s %s ms at %s connections (target < %s)   %s\n' "unwrap p99 (same run)" \
	"$p99" "$best_n" "$target_unwrap_p99_ms" \
	"$(awk -v a="$p99" -v t="$target_unwrap_p99_ms" 'BEGIN { print (a < t) ? "PASS" : "MISS" }')" \
	>>"$tmp/targets"

# The server must still be healthy, and stop cleanly.
kill -0 "$rampartd_pid" 2>/dev/null || die "rampartd died: $(tail -n 5 "$tmp/rampartd.log")"
kill -TERM "$rampartd_pid"
rc=0
wait "$rampartd_pid" || rc=$?
rampartd_pid=
[ "$rc" -eq 0 ] || die "rampartd exited $rc on SIGTERM: $(tail -n 5 "$tmp/rampartd.log")"

echo "machine after:$(uptime | sed 's/.*,  *load/ load/')"
echo
echo "rampartd targets:"
cat "$tmp/targets"
total=$(wc -l <"$tmp/targets")
misses=$(grep -c ' MISS$' "$tmp/targets" || true)
if [ "$misses" -eq 0 ]; then
	echo "summary: PASS - rampartd met all $total targets"
else
	echo "summary: MISS - rampartd missed $misses of $total targets"
fi
exit 0
