#!/bin/sh
# Install every Debian 12 package that rampart's build, tests, fuzzing and
# benchmarks need. Idempotent: only what is missing is installed, and the
# package index is refreshed at most once per run.
set -eu

PACKAGES="
build-essential
pkg-config
meson
ninja-build
clang
libclang-rt-14-dev
llvm
libssl-dev
openssl
libargon2-dev
libjansson-dev
libsqlite3-dev
libcmocka-dev
python3
python3-pytest
time
age
restic
libevent-dev
libhttp-parser-dev
libcurl4-openssl-dev
curl
sslscan
nginx-light
ca-certificates
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

# nginx is only the benchmarks' reference server (bench/http.sh runs its
# own instance on loopback). Debian starts the system service on port 80
# of every interface when the package is installed: if this run installed
# it, stop that service and keep it from starting at boot.
case " $missing " in
*" nginx-light "*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		$SUDO service nginx stop >/dev/null 2>&1 || true
		$SUDO update-rc.d nginx disable >/dev/null 2>&1 || true
	fi
	echo "deps: nginx installed for the benchmarks; its system service is stopped and disabled"
	;;
esac
