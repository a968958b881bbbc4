# SPDX-License-Identifier: Apache-2.0
"""`rampart --server URL`: the same commands through rampartd, with the
same output and exit codes as in embedded mode.

Each comparison runs one scenario twice: in embedded mode on one store,
and in remote mode through a rampartd (started here on a free port, via
--port-file) serving a second store made the same way. Both transcripts
(arguments, exit code, stdout, stderr) must match once what differs by
nature is masked: times, tokens, fresh key material, request ids.

The tests skip only when build/src/rampartd/rampartd is not built.
"""
import base64
import hashlib
import json
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest

from conftest import build_dir
from fileutil import MiB, write_random

RAMPARTD = build_dir() / "src" / "rampartd" / "rampartd"

pytestmark = pytest.mark.skipif(
    not RAMPARTD.exists(), reason=f"{RAMPARTD} is not built")

EX_OK, EX_CHECK, EX_USAGE, EX_DATAERR, EX_NOINPUT = 0, 1, 64, 65, 66
EX_NOUSER, EX_UNAVAILABLE, EX_SOFTWARE = 67, 69, 70
EX_CANTCREAT, EX_IOERR, EX_PROTOCOL, EX_NOPERM = 73, 74, 76, 77

TIMEOUT = 300
START_TIMEOUT = 30


# ---- a store, a daemon, and the two ways of running the CLI -------------

def make_cert(directory, name):
    """A throwaway self-signed P-256 certificate for 127.0.0.1/localhost."""
    key, cert = directory / f"{name}-key.pem", directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-addext",
         "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key),
         "-out", str(cert)], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def clean_env():
    """The environment without any RAMPART_ variable or proxy."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("RAMPART_") and "proxy" not in k.lower()}


def init_store(binary, data):
    out = subprocess.run([str(binary), "init", "--data", str(data), "--json"],
                         env=clean_env(), capture_output=True, check=True,
                         timeout=TIMEOUT)
    return json.loads(out.stdout)["token"]


class Daemon:
    """rampartd on data, listening on a free loopback port."""

    def __init__(self, root, data, extra_args=()):
        self.root = pathlib.Path(root)
        self.data = data
        self.extra_args = list(extra_args)
        self.cert, self.key = make_cert(self.root, "server")
        self.port_file = self.root / "port"
        self.log_path = self.root / "rampartd.log"
        self.proc = None
        self.port = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(RAMPARTD), "--data", str(self.data), "--listen",
             "127.0.0.1:0", "--cert", str(self.cert), "--key",
             str(self.key), "--port-file", str(self.port_file),
             "--log-level", "warn", *self.extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=clean_env())
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            assert self.proc.poll() is None, (
                f"rampartd exited {self.proc.returncode}: "
                f"{self.log_path.read_text()}")
            if self.port_file.exists() and \
                    self.port_file.read_text().strip():
                self.port = int(self.port_file.read_text().strip())
                return self
            time.sleep(0.05)
        raise AssertionError("rampartd did not write its port")

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()


class Result:
    def __init__(self, args, proc):
        self.args = [str(a) for a in args]
        self.returncode = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    @property
    def stdout(self):
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return (f"rampart {' '.join(self.args)}: exit {self.returncode}\n"
                f"stdout: {self.out[:1500]!r}\nstderr: {self.stderr[:1500]}")


class Mode:
    """Runs the CLI in one mode: embedded on data, or remote on a server."""

    def __init__(self, binary, root, data, admin, server=None, cacert=None):
        self.binary = binary
        self.root = pathlib.Path(root)
        self.data = data
        self.admin = admin
        self.server = server
        self.cacert = cacert
        self.tokens = {"admin": admin}
        self.log = []
        self.n = 0

    @property
    def remote(self):
        return self.server is not None

    def env(self, who="admin", token=None):
        env = clean_env()
        if self.remote:
            env["RAMPART_SERVER"] = self.server
            env["RAMPART_CACERT"] = str(self.cacert)
        else:
            env["RAMPART_DATA"] = str(self.data)
        tok = token if token is not None else self.tokens.get(who)
        if tok:
            env["RAMPART_TOKEN"] = tok
        return env

    def run(self, *args, who="admin", token=None, input=b"", check=None,
            env=None, binary=False):
        """binary: stdout is fresh bytes (a wrapped key): the transcript
        keeps only its length; "any": not even that (DER signatures)."""
        e = self.env(who, token)
        e.update(env or {})
        if isinstance(input, str):
            input = input.encode()
        proc = subprocess.run([str(self.binary), *map(str, args)],
                              input=input, capture_output=True, env=e,
                              timeout=TIMEOUT)
        res = Result(args, proc)
        res.binary = binary
        self.log.append(res)
        if check is not None:
            allowed = (check,) if isinstance(check, int) else check
            assert res.returncode in allowed, res
        return res

    def file(self, data, name=None):
        d = self.root / "files"
        d.mkdir(exist_ok=True)
        if name is None:
            self.n += 1
            name = f"f{self.n}"
        p = d / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return p


@pytest.fixture
def modes(rampart_bin, tmp_path):
    """(embedded, remote): two stores made alike, the second one served by
    a rampartd."""
    (tmp_path / "emb").mkdir()
    (tmp_path / "rem").mkdir()
    emb_data, rem_data = tmp_path / "emb" / "data", tmp_path / "rem" / "data"
    emb = Mode(rampart_bin, tmp_path / "emb", emb_data,
               init_store(rampart_bin, emb_data))
    daemon = Daemon(tmp_path / "rem", rem_data)
    rem_admin = init_store(rampart_bin, rem_data)
    daemon.start()
    rem = Mode(rampart_bin, tmp_path / "rem", rem_data, rem_admin,
               server=daemon.url, cacert=daemon.cert)
    rem.daemon = daemon
    try:
        yield emb, rem
    finally:
        daemon.stop()


@pytest.fixture
def remote(modes):
    return modes[1]


# ---- comparing transcripts ----------------------------------------------

ISO_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
TIME_FIELD = re.compile(
    rb'"(created|updated|deleted_at|purge_after|time_us|archived_at)":\d+')
TOKEN = re.compile(rb"rpt_[A-Za-z0-9_-]{43}")
PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.S)
# Public key numbers of a JWK, wrapped keys, signatures, ciphertexts.
B64URL = re.compile(rb"[A-Za-z0-9_-]{40,}")


def mask(data, extra=()):
    for pat, rep in ((TOKEN, b"<token>"), (PEM, b"<pem>"),
                     (ISO_TIME, b"<time>"), (TIME_FIELD, rb'"\1":0'),
                     (B64URL, b"<b64>"), *extra):
        data = pat.sub(rep, data)
    return data


def transcript(mode, extra=()):
    """The log of mode, masked; paths under the mode's root as <root>."""
    root = str(mode.root)
    here = ((re.compile(re.escape(root.encode())), b"<root>"), *extra)
    return [([a.replace(root, "<root>") for a in r.args], r.returncode,
             b"<%d bytes>" % len(r.out) if r.binary is True else
             b"<bytes>" if r.binary else mask(r.out, here),
             mask(r.err, here))
            for r in mode.log]


def assert_same(emb, rem, extra=()):
    a, b = transcript(emb, extra), transcript(rem, extra)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x == y, (f"embedded and remote differ:\n"
                        f"embedded: {x}\nremote:   {y}")


def both(modes, scenario, extra=()):
    """Run scenario(mode) in each mode; compare the transcripts."""
    emb, rem = modes
    scenario(emb)
    scenario(rem)
    assert_same(emb, rem, extra)


# ---- vault and key lifecycle ---------------------------------------------

def vault_key_scenario(m):
    m.run("vault", "create", "v", check=EX_OK)
    m.run("vault", "create", "v", check=EX_CANTCREAT)
    m.run("vault", "create", "bad/name")
    m.run("vault", "grant", "v", "admin", "--perms", "all", check=EX_OK)
    m.run("vault", "grant", "v", "group:nobody", "--perms", "get")
    m.run("vault", "show", "v")
    m.run("vault", "show", "v", "--json")
    m.run("vault", "list")
    m.run("vault", "list", "--json")
    m.run("vault", "update", "v", "--retention-days", "30", check=EX_OK)
    m.run("vault", "show", "v", "--json")
    m.run("vault", "show", "nope")

    m.run("key", "create", "v/aes", "--kty", "aes-256", "--json", check=EX_OK)
    m.run("key", "create", "v/ec", "--kty", "ec-p256", check=EX_OK)
    m.run("key", "create", "v/mac", "--kty", "hmac-sha256", "--ops",
          "sign,verify", "--json", check=EX_OK)
    m.run("key", "create", "v/aes", "--kty", "aes-256", check=EX_CANTCREAT)
    m.run("key", "show", "v/aes")
    m.run("key", "show", "v/ec", "--json")
    m.run("key", "show", "v/ec", "--pem")
    m.run("key", "show", "v/aes", "--pem")
    m.run("key", "show", "v/nope")
    m.run("key", "list", "v")
    m.run("key", "list", "v", "--json")
    m.run("key", "versions", "v/aes")

    # wrap / unwrap: the wrapped key is the same length; it unwraps
    secret = bytes(range(32))
    w = m.run("key", "wrap", "v/aes", input=secret, check=EX_OK,
              binary=True)
    assert len(w.out) == 40
    wfile = m.file(w.out, "w1")
    back = m.run("key", "unwrap", "v/aes", "--in", wfile, check=EX_OK)
    assert back.out == secret
    m.run("key", "unwrap", "v/aes", "--in", wfile, "--json", check=EX_OK)
    m.run("key", "wrap", "v/aes", "--alg", "A256KW", "--json",
          input=secret, check=EX_OK)
    out = m.root / "unwrapped"
    m.run("key", "unwrap", "v/aes", "--in", wfile, "--out", out, "--json",
          check=EX_OK)
    assert out.read_bytes() == secret and (out.stat().st_mode & 0o777) == 0o600
    m.run("key", "unwrap", "v/aes", input=b"garbage-garbage-garbage!",
          check=EX_NOPERM)
    m.run("key", "wrap", "v/ec", input=secret, check=EX_DATAERR)
    m.run("key", "wrap", "v/aes", "--alg", "PS256", input=secret,
          check=EX_DATAERR)
    m.run("key", "wrap", "v/nope", input=secret, check=EX_NOINPUT)
    m.run("key", "wrap", "nope/k", input=secret, check=EX_NOINPUT)

    # encrypt / decrypt
    ct = m.run("key", "encrypt", "v/aes", "--alg", "A256GCM",
               input=b"hello world", check=EX_OK, binary=True)
    assert m.run("key", "decrypt", "v/aes", input=ct.out,
                 check=EX_OK).out == b"hello world"

    # sign / verify
    msg = m.file(b"the message", "msg")
    for key in ("v/ec", "v/mac"):
        sig = m.file(m.run("key", "sign", key, "--in", msg, check=EX_OK,
                           binary="any").out, "sig")
        m.run("key", "verify", key, "--in", msg, "--sig", sig, check=EX_OK)
        m.run("key", "verify", key, "--in", msg, "--sig", sig, "--json",
              check=EX_OK)
        m.run("key", "verify", key, "--sig", sig, input=b"the messagE",
              check=EX_CHECK)
        m.run("key", "verify", key, "--sig", sig, "--json",
              input=b"the messagE", check=EX_CHECK)

    # rotate: old versions keep unwrapping
    m.run("key", "rotate", "v/aes", "--json", check=EX_OK)
    m.run("key", "versions", "v/aes", "--json")
    assert m.run("key", "unwrap", "v/aes/1", "--in", wfile,
                 check=EX_OK).out == secret
    m.run("key", "unwrap", "v/aes", "--in", wfile, check=EX_NOPERM)
    m.run("key", "show", "v/aes/1", "--json")
    m.run("key", "show", "v/aes/9")

    # attributes
    m.run("key", "set", "v/aes", "--disable", check=EX_OK)
    m.run("key", "wrap", "v/aes", input=secret, check=EX_UNAVAILABLE)
    m.run("key", "set", "v/aes", "--enable", "--expires",
          "2099-01-01T00:00:00Z", "--rotate-days", "30", check=EX_OK)
    m.run("key", "set", "v/mac", "--ops", "all", check=EX_OK)
    m.run("key", "show", "v/aes", "--json")
    m.run("key", "show", "v/mac", "--json")

    # backup, delete, recover, purge, restore
    backup = m.root / "aes.backup"
    m.run("key", "backup", "v/aes", "--out", backup, check=EX_OK)
    m.run("key", "delete", "v/aes", check=EX_OK)
    m.run("key", "wrap", "v/aes", input=secret, check=EX_NOINPUT)
    m.run("key", "list", "v", "--deleted")
    m.run("key", "list", "v", "--deleted", "--json")
    m.run("key", "recover", "v/aes", check=EX_OK)
    m.run("key", "delete", "v/aes", check=EX_OK)
    m.run("key", "purge", "v/aes", "--json", check=EX_OK)
    m.run("key", "restore", "v", "--in", backup, "--json", check=EX_OK)
    assert m.run("key", "unwrap", "v/aes/1", "--in", wfile,
                 check=EX_OK).out == secret
    m.run("key", "restore", "v", "--in", backup, check=EX_CANTCREAT)
    m.run("key", "restore", "v", input=b"not a backup")

    m.run("vault", "maintain", "--json", check=EX_OK)
    m.run("audit", "verify", check=EX_OK)


def test_vault_and_key_lifecycle(modes):
    # audit verify counts records: the server makes some calls of its own
    # (a vault.show after vault create), so its counts are its own.
    both(modes, vault_key_scenario,
         extra=((re.compile(rb"intact, \d+ records, \d+ checkpoints"),
                 b"intact, N records, N checkpoints"),))


KWP_IV = "A65959A6"  # RFC 5649 initial value (docs/byok.md)


def openssl(*args):
    return subprocess.run(["openssl", *map(str, args)], check=True,
                          capture_output=True, timeout=TIMEOUT).stdout


def import_scenario(m, pem, jwk, target):
    """Keys imported as PEM, JWK and BYOK; the same material in both
    modes, so AES key wrap (deterministic) must give the same bytes."""
    m.run("vault", "create", "v", check=EX_OK)
    m.run("vault", "grant", "v", "admin", "--perms", "all", check=EX_OK)
    m.run("key", "import", "v/pem", "--pem", pem, "--json", check=EX_OK)
    m.run("key", "import", "v/pem", "--pem", pem, check=EX_CANTCREAT)
    m.run("key", "import", "v/jwk", "--jwk", jwk, "--kty", "aes-256",
          "--rotate-days", "9", "--json", check=EX_OK)
    m.run("key", "import", "v/bad", "--pem", m.file(b"not a \"pem\"\n"))
    m.run("key", "import", "v/bad", "--jwk", m.file(b"{\"kty\":\"oct\"}"),
          "--kty", "aes-256")
    m.run("key", "import", "v/bad", "--pem", pem, "--kty", "rsa-2048")
    m.run("key", "show", "v/pem", "--pem")
    m.run("key", "wrap", "v/jwk", input=bytes(range(32)), check=EX_OK)
    # BYOK: wrapped with openssl for the vault's import key
    m.run("key", "create", "v/import", "--kty", "rsa-2048", "--ops",
          "import", check=EX_OK)
    pub = m.file(m.run("key", "show", "v/import", "--pem",
                       check=EX_OK).out, "import.pem")
    eph = m.file(os.urandom(32), "eph")
    part1 = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub,
                    "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt",
                    "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256",
                    "-in", eph)
    part2 = openssl("enc", "-id-aes256-wrap-pad", "-iv", KWP_IV, "-K",
                    eph.read_bytes().hex(), "-in", target)
    blob = m.file(part1 + part2, "byok.bin")
    m.run("key", "import", "v/byok", "--byok", blob, "--kek", "v/import",
          "--kty", "aes-256", "--json", check=EX_OK)
    w = m.run("key", "wrap", "v/byok", "--alg", "A256KWP",
              input=bytes(range(48)), check=EX_OK)
    assert w.out == openssl("enc", "-id-aes256-wrap-pad", "-iv", KWP_IV,
                            "-K", target.read_bytes().hex(), "-in",
                            m.file(bytes(range(48))))
    bad = bytearray(blob.read_bytes())
    bad[-1] ^= 1
    m.run("key", "import", "v/byok2", "--byok", m.file(bytes(bad)), "--kek",
          "v/import", "--kty", "aes-256", check=EX_NOPERM)


def test_key_import(modes, tmp_path):
    pem = tmp_path / "ec.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", pem)
    secret = os.urandom(32)
    jwk = tmp_path / "oct.jwk"
    k = base64.urlsafe_b64encode(secret).decode().rstrip("=")
    jwk.write_text(json.dumps({"kty": "oct", "k": k}))
    target = tmp_path / "target.bin"
    target.write_bytes(os.urandom(32))
    both(modes, lambda m: import_scenario(m, pem, jwk, target))


def principals_scenario(m):
    r = m.run("principal", "create", "alice", "--json", check=EX_OK)
    m.tokens["alice"] = r.json()["token"]
    r = m.run("principal", "create", "bob", check=EX_OK)
    m.tokens["bob"] = TOKEN.search(r.out).group().decode()
    m.run("principal", "create", "alice", check=EX_CANTCREAT)
    m.run("principal", "create", "ops", "--admin", "--json", check=EX_OK)
    m.run("principal", "list")
    m.run("principal", "list", "--json")
    m.run("principal", "whoami", who="alice")
    m.run("principal", "whoami", "--json", who="bob")
    m.run("group", "create", "g", check=EX_OK)
    m.run("group", "create", "g", check=EX_CANTCREAT)
    m.run("group", "add", "g", "alice", check=EX_OK)
    m.run("group", "add", "g", "nobody", check=EX_NOINPUT)
    m.run("group", "list")
    m.run("group", "list", "--json")
    m.run("group", "remove", "g", "alice", "--json", check=EX_OK)
    m.run("group", "remove", "g", "alice", check=EX_NOINPUT)

    # denials: a wrong token is 67, a missing permission 77
    m.run("vault", "list", token="rpt_" + "A" * 43, check=EX_NOUSER)
    m.run("vault", "list", token="", env={}, check=EX_NOUSER)
    m.run("principal", "create", "eve", who="alice", check=EX_NOPERM)
    m.run("group", "create", "h", who="alice", check=EX_NOPERM)
    m.run("vault", "create", "w", who="alice", check=EX_NOPERM)
    m.run("vault", "create", "v", "--owner", "alice", check=EX_OK)
    m.run("key", "create", "v/k", "--kty", "aes-256", who="alice",
          check=EX_OK)
    for who in ("bob", "admin"):
        m.run("key", "show", "v/k", who=who, check=EX_NOPERM)
        m.run("key", "wrap", "v/k", who=who, input=b"k" * 32,
              check=EX_NOPERM)
    m.run("vault", "grant", "v", "bob", "--perms", "get,wrap", who="bob",
          check=EX_NOPERM)
    m.run("vault", "grant", "v", "bob", "--perms", "get,wrap", who="alice",
          check=EX_OK)
    w = m.run("key", "wrap", "v/k", who="bob", input=b"k" * 32, check=EX_OK,
              binary=True)
    m.run("key", "unwrap", "v/k", who="bob", input=w.out, check=EX_NOPERM)
    m.run("vault", "revoke", "v", "bob", "--perms", "wrap", who="alice",
          check=EX_OK)
    m.run("key", "wrap", "v/k", who="bob", input=b"k" * 32, check=EX_NOPERM)
    m.run("vault", "revoke", "v", "alice", "--perms", "all", who="alice",
          check=EX_DATAERR)
    m.run("vault", "show", "v", "--json", who="alice")
    m.run("audit", "verify", "--json", who="alice", check=EX_NOPERM)


def test_principals_groups_denials(modes):
    both(modes, principals_scenario)


# ---- tenants and files ------------------------------------------------------

def tenant_scenario(m, data):
    """data: {name: bytes} made once, the same for both modes."""
    r = m.run("principal", "create", "alice", "--json", check=EX_OK)
    m.tokens["alice"] = r.json()["token"]
    r = m.run("principal", "create", "bob", "--json", check=EX_OK)
    m.tokens["bob"] = r.json()["token"]
    r = m.run("principal", "create", "carol", "--json", check=EX_OK)
    m.tokens["carol"] = r.json()["token"]
    m.run("tenant", "create", "acme", "--owner", "alice", check=EX_OK)
    m.run("tenant", "create", "acme", check=EX_CANTCREAT)
    m.run("tenant", "create", "other", "--owner", "nobody")
    m.run("tenant", "list")
    m.run("tenant", "list", "--json")
    m.run("tenant", "list", who="alice")
    m.run("dep", "show", "acme", "--json", who="alice")
    m.run("dep", "show", "acme", who="alice")

    # members and roles
    m.run("tenant", "member", "set", "acme", "bob", "--role", "user",
          who="alice", check=EX_OK)
    m.run("tenant", "member", "set", "acme", "carol", "--role", "admin",
          "--json", who="alice", check=EX_OK)
    m.run("tenant", "member", "set", "acme", "alice", "--role", "user",
          who="alice", check=EX_DATAERR)
    m.run("tenant", "member", "set", "acme", "nobody", "--role", "user",
          who="alice", check=EX_NOINPUT)
    m.run("tenant", "member", "set", "acme", "bob", "--role", "admin",
          who="bob", check=EX_NOPERM)
    m.run("tenant", "member", "set", "acme", "bob", who="alice",
          check=EX_USAGE)
    m.run("tenant", "member", "list", "acme", who="carol")
    m.run("tenant", "member", "list", "acme", "--json", who="alice")
    m.run("tenant", "member", "list", "acme", who="bob", check=EX_NOPERM)
    m.run("tenant", "member", "list", "acme", check=EX_NOPERM)

    # files: owner and user
    small = m.file(data["small"], "small")
    big = m.file(data["big"], "big")
    m.run("file", "put", "acme/www/a.txt", "-i", small, who="alice",
          check=EX_OK)
    m.run("file", "put", "acme/www/a.txt", "--json", who="bob",
          input=data["small"] + b"!", check=EX_OK)
    m.run("file", "put", "acme/www/dir/big.bin", "-i", big, "--json",
          who="alice", check=EX_OK)
    m.run("file", "put", "acme/www/stdin.bin", who="bob",
          input=data["big"], check=EX_OK)
    m.run("file", "put", "acme/www/x", "-i", small, who="carol",
          check=EX_OK)
    m.run("file", "put", "acme/www/x", "-i", small, check=EX_NOPERM)
    m.run("file", "put", "acme/www/x", "-i", m.root / "missing",
          who="alice", check=EX_NOINPUT)
    got = m.run("file", "get", "acme/www/a.txt", who="bob", check=EX_OK)
    assert got.out == data["small"] + b"!"
    got = m.run("file", "get", "acme/www/a.txt", "--version", "1",
                who="alice", check=EX_OK)
    assert got.out == data["small"]
    out = m.root / "big.out"
    m.run("file", "get", "acme/www/dir/big.bin", "-o", out, "--json",
          who="bob", check=EX_OK)
    assert out.read_bytes() == data["big"]
    assert (out.stat().st_mode & 0o777) == 0o600
    out2 = m.root / "stdin.out"
    m.run("file", "get", "acme/www/stdin.bin", "-o", out2, who="alice",
          check=EX_OK)
    assert out2.read_bytes() == data["big"]
    m.run("file", "get", "acme/www/a.txt", "--version", "9", who="alice",
          check=EX_NOINPUT)
    # --json with -o learns the version and size first (HEAD remotely).
    out3 = m.root / "v1.out"
    res = m.run("file", "get", "acme/www/a.txt", "--version", "1", "-o",
                out3, "--json", who="alice", check=EX_OK)
    assert out3.read_bytes() == data["small"]
    assert json.loads(res.stdout)["version"] == 1, res.stdout
    m.run("file", "get", "acme/www/a.txt", "--version", "9", "-o", out3,
          "--json", who="alice", check=EX_NOINPUT)
    m.run("file", "get", "acme/www/a.txt", check=EX_NOPERM)
    m.run("file", "get", "acme/www/a.txt", "--json", who="alice",
          check=EX_USAGE)
    m.run("file", "ls", "acme/www", who="alice")
    m.run("file", "ls", "acme/www", "--prefix", "dir/", "--json",
          who="bob")
    m.run("file", "versions", "acme/www/a.txt", who="alice")
    m.run("file", "versions", "acme/www/a.txt", "--json", who="bob")
    m.run("file", "rm", "acme/www/x", who="alice", check=EX_OK)
    m.run("file", "rm", "acme/www/x", "--json", who="alice",
          check=EX_NOINPUT)
    m.run("file", "get", "acme/www/x", who="alice", check=EX_NOINPUT)
    m.run("file", "ls", "nope/www", who="alice", check=EX_NOINPUT)

    # the tenant's audit records: admins only
    m.run("tenant", "audit", "acme", "-n", "5", check=EX_NOPERM)
    m.run("tenant", "audit", "acme", who="bob", check=EX_NOPERM)
    m.run("tenant", "member", "remove", "acme", "bob", who="carol",
          check=EX_OK)
    m.run("tenant", "member", "remove", "acme", "bob", who="carol",
          check=EX_NOINPUT)
    m.run("file", "get", "acme/www/a.txt", who="bob", check=EX_NOPERM)

    m.run("store", "check", "--json", check=EX_OK)
    m.run("store", "check", "--deep", check=EX_OK)
    m.run("store", "check", who="alice", check=EX_NOPERM)


def test_tenants_members_files(modes, tmp_path):
    big = tmp_path / "big"
    write_random(big, 20 * MiB)
    data = {"small": b"hello, tenant\n", "big": big.read_bytes()}
    emb, rem = modes
    tenant_scenario(emb, data)
    tenant_scenario(rem, data)
    # How many blobs a store holds, and the ids of orphans, vary from run
    # to run in either mode; the check's verdict and the rest must match.
    assert_same(emb, rem, extra=(
        (re.compile(rb'"blobs":\d+'), b'"blobs":N'),
        (re.compile(rb"blobs: \d+"), b"blobs: N"),
        (re.compile(rb"\d+/[0-9a-f]{32}"), b"<blob>")))


def dep_scenario(m):
    m.tokens["alice"] = m.run("principal", "create", "alice", "--json",
                              check=EX_OK).json()["token"]
    m.run("tenant", "create", "acme", "--owner", "alice", check=EX_OK)
    for side in ("a", "b"):
        m.run("vault", "create", f"ck-{side}", "--owner", "alice",
              "--purge-protection", check=EX_OK)
        m.run("key", "create", f"ck-{side}/root", "--kty", "rsa-2048",
              who="alice", check=EX_OK)
        m.run("vault", "grant", f"ck-{side}", "rampart-service", "--perms",
              "wrap,unwrap", who="alice", check=EX_OK)
    m.run("vault", "create", "plain", "--owner", "alice", check=EX_OK)
    m.run("key", "create", "plain/root", "--kty", "rsa-2048", who="alice",
          check=EX_OK)
    # refused, with the library's reason
    m.run("dep", "create", "acme/bad", "--root", "ck-a/root", "--root",
          "plain/root", who="alice", check=EX_DATAERR)
    m.run("dep", "create", "acme/ck", "--root", "ck-a/root", "--root",
          "ck-b/root", who="alice", check=EX_OK)
    m.run("dep", "create", "acme/ck", "--root", "ck-a/root", "--root",
          "ck-b/root", who="alice", check=EX_CANTCREAT)
    m.run("dep", "create", "acme/x", "--root", "ck-a/root", "--root",
          "ck-b/root", check=EX_NOPERM)
    m.run("dep", "assign", "acme/ck", who="alice", check=EX_OK)
    m.run("dep", "assign", "acme/nope", who="alice", check=EX_NOINPUT)
    m.run("file", "put", "acme/www/f", who="alice", input=b"under ck",
          check=EX_OK)
    m.run("dep", "show", "acme", who="alice")
    m.run("dep", "show", "acme", "--json", who="alice")
    m.run("key", "rotate", "ck-a/root", who="alice", check=EX_OK)
    m.run("dep", "roll", "acme/ck", "--json", who="alice", check=EX_OK)
    m.run("dep", "show", "acme", who="alice")
    m.run("dep", "purge", "acme/ck", "--confirm", "acme/ck", who="alice",
          check=EX_UNAVAILABLE)
    m.run("dep", "recover", "acme/ck", "--to", "default", who="alice",
          check=EX_NOPERM)
    m.run("dep", "recover", "acme/ck", "--to", "nope", check=EX_NOINPUT)
    m.run("dep", "recover", "acme/ck", "--to", "default", check=EX_OK)
    assert m.run("file", "get", "acme/www/f", who="alice",
                 check=EX_OK).out == b"under ck"
    m.run("tenant", "list", "--json")


def test_deps(modes):
    both(modes, dep_scenario)


def test_tenant_audit(remote):
    """tenant audit in remote mode: records of the tenant, without the
    command's own reads; --after pages."""
    m = remote
    m.tokens["alice"] = m.run("principal", "create", "alice", "--json",
                              check=EX_OK).json()["token"]
    m.run("tenant", "create", "acme", "--owner", "alice", check=EX_OK)
    m.run("file", "put", "acme/www/a", who="alice", input=b"a",
          check=EX_OK)
    m.run("tenant", "member", "set", "acme", "admin", "--role", "user",
          who="alice", check=EX_OK)
    res = m.run("tenant", "audit", "acme", "--json", "--request-id",
                "me-1", who="alice", check=EX_OK)
    recs = [json.loads(line) for line in res.stdout.splitlines()]
    ops = [r["op"] for r in recs]
    assert "tenant.create" in ops and "file.put" in ops
    assert "tenant.member.set" in ops
    assert all(r["tenant"] == "acme" for r in recs)
    assert not any(r["request_id"] == "me-1" for r in recs)
    first = recs[0]["seq"]
    res = m.run("tenant", "audit", "acme", "--after", first, "-n", "1",
                "--json", who="alice", check=EX_OK)
    (nxt,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert nxt["seq"] == recs[1]["seq"]
    human = m.run("tenant", "audit", "acme", "-n", "2", who="alice",
                  check=EX_OK).stdout.splitlines()
    assert len(human) == 2 and all(" acme" in line for line in human)


# ---- transfers ------------------------------------------------------------

def blob_files(data):
    root = data / "blobs"
    return {p for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")}


def test_truncated_download_leaves_no_file(remote, tmp_path):
    """A chunk that fails authentication on the server after the first
    bytes went out: the server ends the body short, the CLI fails and the
    temporary file is gone; FILE keeps its old content."""
    m = remote
    m.tokens["alice"] = m.run("principal", "create", "alice", "--json",
                              check=EX_OK).json()["token"]
    m.run("tenant", "create", "acme", "--owner", "alice", check=EX_OK)
    head = tmp_path / "head"
    write_random(head, 4 * MiB)
    m.run("file", "put", "acme/www/f", "-i", head, who="alice", check=EX_OK)
    before = blob_files(m.data)
    full = tmp_path / "full"
    with open(full, "wb") as f:
        f.write(head.read_bytes())
        write_random(f, 8 * MiB)
    m.run("file", "put", "acme/www/f", "-i", full, who="alice", check=EX_OK)
    # Blobs only version 2 has come after the chunks it shares with
    # version 1: damaging one spares the first chunk of the body.
    later = sorted(blob_files(m.data) - before)
    assert later
    victim = later[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 1
    victim.write_bytes(bytes(raw))

    out = tmp_path / "out"
    out.write_bytes(b"old content")
    # The server can only cut the body short: 74, not embedded mode's 77.
    res = m.run("file", "get", "acme/www/f", "-o", out, who="alice",
                check=EX_IOERR)
    assert "the connection ended early" in res.stderr
    assert out.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()
            if p.name.startswith("out.tmp-")] == []
    # to stdout: the bytes may have started, the exit status says no
    res = m.run("file", "get", "acme/www/f", who="alice")
    assert res.returncode != EX_OK and len(res.out) < full.stat().st_size


def test_failed_download_leaves_no_file(remote, tmp_path):
    m = remote
    out = tmp_path / "never"
    m.tokens["alice"] = m.run("principal", "create", "alice", "--json",
                              check=EX_OK).json()["token"]
    m.run("tenant", "create", "acme", "--owner", "alice", check=EX_OK)
    res = m.run("file", "get", "acme/www/nope", "-o", out, who="alice",
                check=EX_NOINPUT)
    assert res.stderr == "rampart: file get: acme/www/nope: not found\n"
    res = m.run("file", "get", "acme/www/nope", "-o", out,
                check=EX_NOPERM)
    assert list(tmp_path.glob("never*")) == []


def test_put_from_a_pipe_is_chunked(remote, tmp_path):
    """stdin of unknown size goes up chunked, streamed: a 20 MiB pipe."""
    m = remote
    m.tokens["alice"] = m.run("principal", "create", "alice", "--json",
                              check=EX_OK).json()["token"]
    m.run("tenant", "create", "acme", "--owner", "alice", check=EX_OK)
    proc = subprocess.Popen(
        [str(m.binary), "file", "put", "acme/www/pipe", "--json"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=m.env("alice"))
    sha = write_random(proc.stdin, 20 * MiB)
    out, err = proc.communicate(timeout=TIMEOUT)  # closes stdin
    assert proc.returncode == 0, err
    assert json.loads(out) == {"file": "acme/www/pipe", "version": 1}
    got = m.run("file", "get", "acme/www/pipe", who="alice", check=EX_OK)
    assert hashlib.sha256(got.out).hexdigest() == sha


# ---- the connection: https only, certificates -----------------------------

def test_http_refused(remote):
    m = remote
    url = m.server.replace("https://", "http://")
    res = m.run("vault", "list", "--server", url, check=EX_USAGE)
    assert "http:// is refused" in res.stderr
    res = m.run("vault", "list", env={"RAMPART_SERVER": url},
                check=EX_USAGE)
    assert "RAMPART_SERVER" in res.stderr and "http://" in res.stderr
    m.run("vault", "list", "--server", "ftp://127.0.0.1/", check=EX_USAGE)
    m.run("vault", "list", "--server", "https://user@127.0.0.1/",
          check=EX_USAGE)
    m.run("vault", "list", "--server", m.server + "/?x=1", check=EX_USAGE)


def test_embedded_options_refused_with_a_server(remote):
    m = remote
    res = m.run("vault", "list", "--data", m.data, check=EX_USAGE)
    assert "--data" in res.stderr
    m.run("vault", "list", "--passphrase-file", "/dev/null",
          check=EX_USAGE)
    for cmd in (("init", "--data", m.root / "new"), ("selftest",)):
        res = m.run(*cmd, "--server", m.server, check=EX_USAGE)
        assert "local-only" in res.stderr
        assert not (m.root / "new").exists()


def test_wrong_cacert_refused(remote, tmp_path):
    m = remote
    other, _ = make_cert(tmp_path, "other")
    res = m.run("vault", "list", "--cacert", other, check=EX_PROTOCOL)
    assert res.stderr.startswith("rampart: vault list: https://127.0.0.1:")
    assert "TLS" in res.stderr and "certificate" in res.stderr
    # the system's CAs do not know the server's certificate either
    res = m.run("vault", "list", env={"RAMPART_CACERT": ""},
                check=EX_PROTOCOL)
    assert "TLS" in res.stderr
    res = m.run("vault", "list", "--cacert", tmp_path / "missing.pem",
                check=EX_NOINPUT)
    assert "missing.pem" in res.stderr
    # with "localhost" the name matches the certificate too
    url = m.server.replace("127.0.0.1", "localhost")
    m.run("vault", "list", "--server", url, check=EX_OK)


def test_remote_options_refused_without_a_server(modes, tmp_path):
    emb, _ = modes
    for opt in ("--cacert", "--client-cert", "--client-key"):
        res = emb.run("vault", "list", opt, tmp_path / "x.pem",
                      check=EX_USAGE)
        assert f"{opt} belongs to remote mode" in res.stderr
    # their environment variables are left alone
    emb.run("vault", "list", env={"RAMPART_CACERT": "/nonexistent"},
            check=EX_OK)


def test_client_certificate(rampart_bin, tmp_path):
    """A server that requires client certificates (mutual TLS): refused
    without one, with the server's reason; served with one."""
    data = tmp_path / "data"
    admin = init_store(rampart_bin, data)
    client_cert, client_key = make_cert(tmp_path, "client")
    daemon = Daemon(tmp_path, data, extra_args=(
        "--client-ca", str(client_cert), "--client-cert-required", "true"))
    daemon.start()
    try:
        m = Mode(rampart_bin, tmp_path, data, admin, server=daemon.url,
                 cacert=daemon.cert)
        res = m.run("principal", "whoami", check=EX_NOUSER)
        assert "client certificate" in res.stderr
        res = m.run("principal", "whoami", "--json", "--client-cert",
                    client_cert, "--client-key", client_key, check=EX_OK)
        assert res.json()["name"] == "admin"
        both_pem = tmp_path / "both.pem"
        both_pem.write_bytes(client_key.read_bytes() +
                             client_cert.read_bytes())
        m.run("principal", "whoami",
              env={"RAMPART_CLIENT_CERT": str(both_pem)}, check=EX_OK)
        # a certificate the server does not trust ends the handshake
        other, other_key = make_cert(tmp_path, "other")
        m.run("principal", "whoami", "--client-cert", other,
              "--client-key", other_key,
              check=(EX_PROTOCOL, EX_IOERR))
        m.run("principal", "whoami", "--client-key", client_key,
              check=EX_USAGE)
        m.run("principal", "whoami", "--client-cert",
              tmp_path / "missing.pem", check=EX_NOINPUT)
    finally:
        daemon.stop()


def test_server_text_cannot_drive_the_terminal(rampart_bin, tmp_path):
    """The message of a server's error answer is printed with the CLI's
    error: its control characters (escape sequences that retitle or clear
    the terminal, a CR LF that forges a line of output) are not passed
    through to it."""
    import http.server
    import ssl
    import threading

    cert, key = make_cert(tmp_path, "evil")
    body = json.dumps({"error": {
        "code": "denied",
        "message": "no \x1b]0;pwned\x07\x1b[2J\r\nrampart: all good\x9b"}}
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        m = Mode(rampart_bin, tmp_path, None, "rpt_" + "A" * 43,
                 server=f"https://127.0.0.1:{srv.server_address[1]}",
                 cacert=cert)
        res = m.run("vault", "list", check=EX_NOPERM)
        assert res.err.count(b"\n") == 1 and res.err.endswith(b"\n"), res
        assert not any(c < 0x20 and c != 0x0a or c == 0x7f
                       for c in res.err), res
        assert "\u009b" not in res.stderr, res
        assert "(server: no " in res.stderr and "all good" in res.stderr
    finally:
        srv.shutdown()
        srv.server_close()


def test_server_gone(remote):
    m = remote
    m.daemon.stop()
    res = m.run("vault", "list", check=EX_UNAVAILABLE)
    assert "cannot connect" in res.stderr


def test_token_stays_out_of_output(remote):
    m = remote
    bad = "rpt_" + "B" * 43
    res = m.run("vault", "list", token=bad, check=EX_NOUSER)
    assert bad.encode() not in res.out + res.err
    res = m.run("vault", "list", "--token", bad, check=EX_NOUSER)
    assert bad.encode() not in res.out + res.err
    # a token that cannot be a header value is refused before sending
    res = m.run("vault", "list", token=m.admin + "\r\nX-Evil: 1",
                check=EX_NOUSER)
    assert "X-Evil" not in res.stderr


# ---- audit: request ids and the stream --------------------------------------

def test_request_id_is_audited(remote):
    m = remote
    m.run("vault", "create", "v", "--request-id", "remote-rid-1",
          check=EX_OK)
    tail = m.run("audit", "tail", "-n", "50", "--json", check=EX_OK)
    recs = [json.loads(line) for line in tail.stdout.splitlines()]
    mine = [r for r in recs if r["request_id"] == "remote-rid-1"]
    assert [r["op"] for r in mine][:1] == ["vault.create"]
    # a malformed id is replaced by the server's, as the library does
    m.run("vault", "create", "w", "--request-id", "bad id\r\nX: y",
          check=EX_OK)


def test_audit_tail_follow_streams(remote):
    m = remote
    m.run("vault", "create", "v", check=EX_OK)
    proc = subprocess.Popen(
        [str(m.binary), "audit", "tail", "-n", "1", "-f", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=m.env())
    try:
        # The last record (the server's own vault.show after the create):
        # once it is out, the tail is following.
        assert json.loads(proc.stdout.readline())["op"].startswith("vault.")
        m.run("vault", "show", "v", "--request-id", "while-tailing",
              check=EX_OK)
        rec = json.loads(proc.stdout.readline())
        assert rec["op"] == "vault.show"
        assert rec["request_id"] == "while-tailing"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # none of the tail's own reads were printed
    for line in out.decode().splitlines():
        assert json.loads(line)["op"] not in ("audit.read",
                                              "principal.whoami")


def test_audit_tail_n0_follow_long_log(remote):
    """`tail -n 0 -f` on a log longer than one page (1000 records) starts
    at its end: it once printed the whole log from record 1."""
    import http.client
    import ssl
    m = remote
    ctx = ssl.create_default_context(cafile=str(m.cacert))
    port = int(m.server.rsplit(":", 1)[1])
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=60)
    for _ in range(1100):  # one audited read each
        conn.request("GET", "/v1/vaults",
                     headers={"Authorization": f"Bearer {m.admin}"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    conn.close()
    before = m.run("audit", "tail", "-n", "1", "--json", check=EX_OK)
    last = json.loads(before.stdout)["seq"]
    assert last > 1100
    proc = subprocess.Popen(
        [str(m.binary), "audit", "tail", "-n", "0", "-f", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=m.env())
    try:
        time.sleep(1.5)
        m.run("vault", "show", "nope", "--request-id", "after-start",
              check=EX_NOINPUT)
        rec = json.loads(proc.stdout.readline())
        assert rec["seq"] > last, rec
        while rec["request_id"] != "after-start":
            rec = json.loads(proc.stdout.readline())
            assert rec["seq"] > last, rec
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_audit_tail_same_as_embedded(modes):
    """A record prints alike in both modes (the stores' logs differ: the
    server makes calls of its own, so only the last record is compared)."""
    emb, rem = modes
    lines = []
    for m in (emb, rem):
        m.run("vault", "create", "v", check=EX_OK)
        m.run("vault", "show", "nope", "--request-id", "same-rid",
              check=EX_NOINPUT)
        lines.append(m.run("audit", "tail", "-n", "1", check=EX_OK).stdout)
    masked = [re.sub(r"^\d+ \S+ ", "SEQ TIME ", line) for line in lines]
    assert masked[0] == masked[1] == \
        "SEQ TIME admin vault.show nope error: not found same-rid\n"
