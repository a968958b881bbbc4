#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# run.sh - what `make run` does after building: on first run, create the
# embedded default in ./var (a key store sealed by a key file, the content
# DB and four blob accounts, a self-signed TLS certificate) and print the
# admin token once; then print a quickstart and run rampartd in the
# foreground on https://127.0.0.1:8443.
#
#   scripts/run.sh [BUILD]
#
# RAMPART_RUN_DIR (default ./var) and RAMPART_RUN_LISTEN (default
# 127.0.0.1:8443) move it elsewhere; the quickstart test uses both.
set -eu

build=${1:-build}
dir=${RAMPART_RUN_DIR:-var}
listen=${RAMPART_RUN_LISTEN:-127.0.0.1:8443}
rampart=$build/src/rampart
rampartd=$build/src/rampartd/rampartd
port=${listen##*:}

die() {
	echo "run.sh: $*" >&2
	exit 1
}

[ -x "$rampart" ] || die "$rampart: not built (run make build)"
[ -x "$rampartd" ] || die "$rampartd: not built (run make build)"
command -v openssl >/dev/null || die "openssl: not installed (run scripts/deps.sh)"

first=false
if [ ! -e "$dir/vault/store.db" ]; then
	first=true
	umask 077
	mkdir -p "$dir"
	# The admin token is printed once and kept nowhere (only its hash).
	init=$("$rampart" init --data "$dir" --json) || die "rampart init failed"
	admin_token=$(printf '%s\n' "$init" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
	[ -n "$admin_token" ] || die "no admin token in the output of rampart init"
fi
if [ ! -e "$dir/tls/cert.pem" ] || [ ! -e "$dir/tls/key.pem" ]; then
	umask 077
	mkdir -p "$dir/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 365 -subj /CN=localhost \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$dir/tls/key.pem.tmp" -out "$dir/tls/cert.pem.tmp" \
		2>/dev/null || die "openssl could not make a certificate"
	chmod 600 "$dir/tls/key.pem.tmp"
	mv "$dir/tls/key.pem.tmp" "$dir/tls/key.pem"
	mv "$dir/tls/cert.pem.tmp" "$dir/tls/cert.pem"
fi

abs=$(cd "$dir" && pwd)
bin=$(cd "$build/src" && pwd)
url=https://127.0.0.1:$port
if $first; then
	token_line="export RAMPART_TOKEN=$admin_token"
	token_note="the admin token below is shown this once: keep it"
else
	token_line="export RAMPART_TOKEN=...   # the admin token printed on the first run"
	token_note="$dir exists already: its admin token was printed on the first run"
fi
cat <<EOF

rampart is starting on $url ($token_note)

Quickstart, in another shell (copy and paste):

  \$ export PATH=$bin:\$PATH RAMPART_SERVER=$url RAMPART_CACERT=$abs/tls/cert.pem
  \$ $token_line
  \$ rampart principal create alice --json | tee alice.json
  \$ rampart tenant create contoso --owner alice
  \$ export ALICE=\$(sed -n 's/.*"token":"\\([^"]*\\)".*/\\1/p' alice.json)
  \$ echo "hello, encrypted world" > hello.txt
  \$ RAMPART_TOKEN=\$ALICE rampart file put contoso/docs/hello.txt -i hello.txt
  \$ RAMPART_TOKEN=\$ALICE rampart file get contoso/docs/hello.txt
  \$ (umask 077; printf 'Authorization: Bearer %s\\n' "\$ALICE" > alice.hdr)
  \$ curl --cacert \$RAMPART_CACERT -H @alice.hdr -T hello.txt $url/v1/tenants/contoso/sites/docs/files/curl.txt
  \$ curl --cacert \$RAMPART_CACERT -H @alice.hdr $url/v1/tenants/contoso/sites/docs/files/curl.txt

(The token goes to curl in a header file, not on its command line, where
every user of the machine could read it.) Stop with Ctrl-C (in-flight
requests finish). Logs follow, one JSON object
per line.

EOF
exec "$rampartd" --data "$dir" --listen "$listen"
