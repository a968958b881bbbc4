# SPDX-License-Identifier: Apache-2.0
"""Helpers for integration tests of the key vault.

    store = Store(rampart_bin, tmp_path)        # rampart init --data tmp/data
    store.make_vault("v1")
    store.make_key("v1/k1", "aes-256")
    r = store.run("key", "wrap", "v1/k1", input=b"\\0" * 32, check=0)
    r.out            # raw stdout bytes; r.stdout / r.stderr as text

Tokens only ever travel in the environment (RAMPART_TOKEN), never on a
command line. Every command a Store runs is kept in store.log (arguments,
exit code, stdout and stderr), so a test can inspect everything a scenario
printed.
"""
import base64
import json
import os
import pathlib
import subprocess

# Exit codes of the rampart CLI (src/rampart/cli.h).
EX_OK = 0
EX_CHECK_FAILED = 1
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_NOPERM = 77

# Files a store directory may hold (docs/FORMAT.md "Vault store"; SQLite
# in WAL mode adds the -wal and -shm files).
STORE_FILES = {"store.db", "store.db-wal", "store.db-shm", "master.key"}

# What each key type can do, and the fast ones for tests that make many.
KTYS = ("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519",
        "aes-256", "hmac-sha256")
FAST_KTYS = ("aes-256", "ec-p256", "hmac-sha256")

DEFAULT_TIMEOUT = 300


class Result:
    """Outcome of one command: exit code and raw output."""

    def __init__(self, args, returncode, out, err):
        self.args = list(args)
        self.returncode = returncode
        self.out = out  # bytes
        self.err = err  # bytes

    @property
    def stdout(self):
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return (f"Result({' '.join(map(str, self.args))!r}, "
                f"exit {self.returncode})")


def describe(res, expected=None):
    head = f"rampart {' '.join(map(str, res.args))}: exit {res.returncode}"
    if expected is not None:
        head += f", expected {expected}"
    return f"{head}\nstdout: {res.out[:2000]!r}\nstderr: {res.stderr[:2000]}"


def check_exit(res, check):
    """Assert res exited with check (an int or a collection of ints)."""
    if check is None:
        return
    allowed = (check,) if isinstance(check, int) else tuple(check)
    assert res.returncode in allowed, describe(res, check)


class Store:
    """A fresh store in root/data made by `rampart init --json`.

    token is the first administrator's token; init_result is the one
    command output that reveals it.
    """

    def __init__(self, binary, root, admin="admin", extra_env=None):
        self.binary = pathlib.Path(binary)
        self.root = pathlib.Path(root)
        self.data = self.root / "data"
        self.vault_dir = self.data / "vault"
        self.extra_env = dict(extra_env or {})
        self.log = []  # every Result this store ran, in order
        args = ["init", "--data", str(self.data), "--json"]
        if admin != "admin":
            args += ["--admin", admin]
        res = self._exec(args, env=self._env(None, with_token=False))
        check_exit(res, EX_OK)
        self.init_result = res
        info = res.json()
        assert info["admin"] == admin and info["unseal"] == "keyfile", info
        self.token = info["token"]
        self.admin = admin
        self._n = 0

    # ---- running commands -------------------------------------------

    def _env(self, token, with_token=True):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RAMPART_")}
        env.update(self.extra_env)
        env["RAMPART_DATA"] = str(self.data)
        if with_token:
            env["RAMPART_TOKEN"] = token
        return env

    def _exec(self, args, env, input=None, timeout=DEFAULT_TIMEOUT):
        if isinstance(input, str):
            input = input.encode()
        proc = subprocess.run([str(self.binary), *map(str, args)],
                              input=input if input is not None else b"",
                              capture_output=True, env=env, timeout=timeout)
        res = Result(args, proc.returncode, proc.stdout, proc.stderr)
        self.log.append(res)
        return res

    def env(self, token=None):
        """The environment a command of this store runs with (for Popen)."""
        return self._env(self.token if token is None else token)

    def argv(self, *args):
        return [str(self.binary), *map(str, args)]

    def run(self, *args, token=None, check=None, input=None,
            timeout=DEFAULT_TIMEOUT):
        """Run `rampart ARGS` with RAMPART_DATA and RAMPART_TOKEN set.

        token: None means the administrator's token; "" runs without one.
        check: expected exit code (or a tuple of them); None: no check.
        input: bytes or str for stdin (default: empty stdin).
        """
        tok = self.token if token is None else token
        res = self._exec(args, env=self._env(tok, with_token=tok != ""),
                         input=input, timeout=timeout)
        check_exit(res, check)
        return res

    def json(self, *args, token=None, input=None):
        """Run with --json, expect exit 0, return the parsed output."""
        res = self.run(*args, "--json", token=token, check=EX_OK, input=input)
        return res.json()

    # ---- making things ----------------------------------------------

    def make_vault(self, name, purge_protection=False, retention_days=None,
                   owner=None, token=None):
        args = ["vault", "create", name]
        if purge_protection:
            args.append("--purge-protection")
        if retention_days is not None:
            args += ["--retention-days", retention_days]
        if owner is not None:
            args += ["--owner", owner]
        out = self.json(*args, token=token)
        assert out == {"ok": True, "vault": name}, out
        return name

    def make_key(self, ref, kty, ops=None, token=None, extra=()):
        """key create REF --kty KTY; returns the key as `key show --json`."""
        args = ["key", "create", ref, "--kty", kty, *extra]
        if ops is not None:
            args += ["--ops", ops]
        k = self.json(*args, token=token)
        vault, name = ref.split("/")[:2]
        assert (k["vault"], k["name"], k["kty"]) == (vault, name, kty), k
        return k

    def import_key(self, ref, fmt, path, kty=None, kek=None, token=None,
                   check=EX_OK):
        """key import REF --pem|--jwk|--byok PATH [--kty] [--kek]."""
        args = ["key", "import", ref, f"--{fmt}", path]
        if kty is not None:
            args += ["--kty", kty]
        if kek is not None:
            args += ["--kek", kek]
        return self.run(*args, "--json", token=token, check=check)

    def make_principal(self, name, admin=False, token=None):
        """principal create NAME; returns (token, the Result showing it)."""
        args = ["principal", "create", name, "--json"]
        if admin:
            args.append("--admin")
        res = self.run(*args, token=token, check=EX_OK)
        info = res.json()
        assert info["name"] == name and info["admin"] is admin, info
        assert info["token"].startswith("rpt_") and len(info["token"]) == 47
        return info["token"], res

    def grant(self, vault, subject, perms, token=None):
        out = self.json("vault", "grant", vault, subject, "--perms", perms,
                        token=token)
        assert out["ok"] is True, out

    def key_names(self, vault, deleted=False, token=None):
        args = ["key", "list", vault]
        if deleted:
            args.append("--deleted")
        return sorted(k["name"] for k in self.json(*args, token=token))

    def audit_verify(self):
        rep = self.json("audit", "verify")
        assert rep["ok"] is True, rep
        return rep

    def tmpfile(self, data, name=None):
        """Write bytes to a fresh file under root/files; return its path."""
        d = self.root / "files"
        d.mkdir(exist_ok=True)
        if name is None:
            self._n += 1
            name = f"f{self._n}"
        p = d / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        return p

    def leftover_files(self):
        """Files in DIR/vault beyond what a store may hold."""
        return sorted(set(os.listdir(self.vault_dir)) - STORE_FILES)

    # ---- round trips --------------------------------------------------

    def check_usable(self, ref, kty, token=None):
        """Do a real operation with the key and check its result."""
        if kty == "aes-256" or kty.startswith("rsa-"):
            secret = os.urandom(32)
            wrapped = self.run("key", "wrap", ref, input=secret, token=token,
                               check=EX_OK).out
            assert wrapped and secret not in wrapped
            back = self.run("key", "unwrap", ref, input=wrapped, token=token,
                            check=EX_OK).out
            assert back == secret, ref
        else:
            msg = os.urandom(40)
            sig = self.run("key", "sign", ref, input=msg, token=token,
                           check=EX_OK).out
            assert sig
            sig_path = self.tmpfile(sig)
            self.run("key", "verify", ref, "--sig", sig_path, input=msg,
                     token=token, check=EX_OK)
            bad = self.run("key", "verify", ref, "--sig", sig_path,
                           input=msg + b"x", token=token)
            assert bad.returncode == EX_CHECK_FAILED, describe(bad, 1)


# ---- openssl -----------------------------------------------------------

def openssl(*args, input=None, check=True):
    """Run the openssl command line; returns the CompletedProcess (bytes)."""
    proc = subprocess.run(["openssl", *map(str, args)], input=input,
                          capture_output=True, timeout=120)
    if check:
        assert proc.returncode == 0, (
            f"openssl {' '.join(map(str, args))}: exit {proc.returncode}\n"
            f"{proc.stderr.decode(errors='replace')}")
    return proc


def genpkey_args(kty):
    """openssl genpkey arguments for a rampart asymmetric key type."""
    return {
        "rsa-2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa-3072": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        "rsa-4096": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
        "ec-p256": ["-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256"],
        "ec-p384": ["-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-384"],
        "ed25519": ["-algorithm", "ED25519"],
    }[kty]


def genpkey(kty, path, outform="PEM"):
    """Generate a private key with openssl genpkey into path."""
    openssl("genpkey", *genpkey_args(kty), "-outform", outform, "-out", path)
    return pathlib.Path(path)


# ---- encodings of secrets (for leak checks) ----------------------------

def b64(data):
    return base64.b64encode(data).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def encodings(secret):
    """Textual forms a secret could leak in: hex (both cases), base64 and
    base64url (with and without padding). Forms of secrets shorter than 8
    bytes are not meaningful and are refused."""
    assert len(secret) >= 8
    forms = {secret.hex(), secret.hex().upper(), b64(secret),
             b64(secret).rstrip("="), b64url(secret)}
    return {f.encode() for f in forms} | {secret}
