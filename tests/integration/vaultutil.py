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
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import pathlib
import shutil
import sqlite3
import subprocess
import tempfile

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
STORE_FILES = {"store.db", "store.db-wal", "store.db-shm", "master.key", "init.lock"}

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


def _aligned_b64(secret, encode):
    """Base64 text of secret as it shows inside a longer encoding, for each
    of the three byte alignments: only whole 3-byte groups of the secret."""
    out = set()
    for skip in range(3):
        part = secret[skip:]
        part = part[:len(part) - len(part) % 3]
        if len(part) >= 6:
            out.add(encode(part).decode().rstrip("="))
    return out


def encodings(secret):
    """Forms a secret could leak in: the raw bytes, hex (both cases, plain
    and colon-separated), base64 and base64url (standalone, and at every
    alignment inside a longer encoding). Secrets shorter than 8 bytes
    would match by chance and are refused."""
    assert len(secret) >= 8
    forms = {secret.hex(), secret.hex().upper(), secret.hex(":"),
             secret.hex(":").upper(), b64(secret), b64(secret).rstrip("="),
             b64url(secret)}
    forms |= _aligned_b64(secret, base64.b64encode)
    forms |= _aligned_b64(secret, base64.urlsafe_b64encode)
    return {f.encode() for f in forms} | {secret}


def haystacks(data):
    """data, and data with line breaks removed (PEM lines, and JSON "\\n"
    escapes), so that wrapped encodings are found too."""
    return (data, data.replace(b"\n", b""),
            data.replace(b"\\n", b"").replace(b"\n", b""))


def find_leaks(data, secrets):
    """Names of the secrets ({name: bytes}) any of whose forms occurs in
    data (bytes), whole (see encodings). LeakFinder also finds parts."""
    found = []
    hay = haystacks(data)
    for name, secret in secrets.items():
        if any(form in h for form in encodings(secret) for h in hay):
            found.append(name)
    return found


class LeakFinder:
    """Finds secrets, or any sizeable piece of one, in output.

    Each secret is cut into CHUNK-byte pieces (overlapping at its end); a
    piece is looked for in every form of encodings(). So any 2*CHUNK-1
    contiguous bytes of a secret are found, in raw, hex or base64 form,
    also across line breaks. Text secrets given with text=True (tokens) are
    instead looked for as every TEXT_WINDOW-character window, verbatim.
    Secrets named in whole (a PKCS#8 key, which holds public parts too)
    are only looked for entire. All patterns are indexed by their first
    PREFIX bytes, so one pass over the output checks them all.
    """

    CHUNK = 16
    TEXT_WINDOW = 12
    PREFIX = 8

    def __init__(self, secrets, text=(), whole=()):
        self.secrets = dict(secrets)
        self.index = {}
        for label, secret in self.secrets.items():
            pats = (encodings(secret) if label in whole else
                    self._patterns(secret, label in text))
            for pat in pats:
                assert len(pat) >= self.PREFIX, (label, pat)
                self.index.setdefault(pat[:self.PREFIX], set()).add(
                    (pat, label))

    def _patterns(self, secret, is_text):
        if is_text:
            w = self.TEXT_WINDOW
            return {secret[i:i + w] for i in range(len(secret) - w + 1)} | \
                encodings(secret)
        if len(secret) <= self.CHUNK:
            return encodings(secret)
        pats = set()
        starts = list(range(0, len(secret) - self.CHUNK + 1, self.CHUNK))
        starts.append(len(secret) - self.CHUNK)
        for at in starts:
            pats |= encodings(secret[at:at + self.CHUNK])
        return pats

    def find(self, data, allowed=()):
        """Labels of the secrets found in data (bytes), leaving out those
        contained in one of the allowed byte strings."""
        found = set()
        p = self.PREFIX
        index = self.index
        for h in haystacks(data):
            for i in range(len(h) - p + 1):
                hits = index.get(h[i:i + p])
                if hits:
                    for pat, label in hits:
                        if h.startswith(pat, i):
                            found.add(label)
        return sorted(label for label in found
                      if not any(self.secrets[label] in a for a in allowed))


# ---- reading a store's secrets from outside (docs/FORMAT.md) -----------
#
# A test that needs the material rampart generated (to look for it where
# it must not be) reads it the way docs/FORMAT.md describes: the master key
# box in table seal under the key file, HKDF subkeys, and AEAD boxes of
# key material. AES-GCM comes from libcrypto through ctypes, so no Python
# package beyond the standard library is needed.

_libcrypto = None


def _crypto():
    global _libcrypto
    if _libcrypto is None:
        name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
        lib = ctypes.CDLL(name)
        vp, ip, cp = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
        lib.EVP_CIPHER_CTX_new.restype = vp
        lib.EVP_CIPHER_CTX_free.argtypes = [vp]
        lib.EVP_aes_256_gcm.restype = vp
        lib.EVP_DecryptInit_ex.argtypes = [vp, vp, vp, cp, cp]
        lib.EVP_DecryptUpdate.argtypes = [vp, vp, ctypes.POINTER(ip), cp, ip]
        lib.EVP_DecryptFinal_ex.argtypes = [vp, vp, ctypes.POINTER(ip)]
        lib.EVP_CIPHER_CTX_ctrl.argtypes = [vp, ip, ip, vp]
        _libcrypto = lib
    return _libcrypto


AEAD_NONCE, AEAD_TAG = 12, 16
EVP_CTRL_GCM_SET_TAG = 0x11


def aead_seal_box(key, plain, aad):
    """Seal an AEAD box (nonce || ciphertext || tag, AES-256-GCM), as the
    store does."""
    lib = _crypto()
    vp, ip, cp = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    lib.EVP_EncryptInit_ex.argtypes = [vp, vp, vp, cp, cp]
    lib.EVP_EncryptUpdate.argtypes = [vp, vp, ctypes.POINTER(ip), cp, ip]
    lib.EVP_EncryptFinal_ex.argtypes = [vp, vp, ctypes.POINTER(ip)]
    nonce = os.urandom(AEAD_NONCE)
    ctx = lib.EVP_CIPHER_CTX_new()
    assert ctx
    try:
        n = ctypes.c_int(0)
        out = ctypes.create_string_buffer(len(plain) + 16)
        tail = ctypes.create_string_buffer(16)
        tag = ctypes.create_string_buffer(AEAD_TAG)
        assert lib.EVP_EncryptInit_ex(ctx, lib.EVP_aes_256_gcm(), None, key,
                                      nonce) == 1
        assert lib.EVP_EncryptUpdate(ctx, None, ctypes.byref(n), aad,
                                     len(aad)) == 1
        assert lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), plain,
                                     len(plain)) == 1
        got = n.value
        assert lib.EVP_EncryptFinal_ex(ctx, tail, ctypes.byref(n)) == 1
        assert lib.EVP_CIPHER_CTX_ctrl(ctx, 0x10, AEAD_TAG, tag) == 1
        return nonce + out.raw[:got] + tag.raw
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


def aead_open_box(key, box, aad):
    """Open an AEAD box (nonce || ciphertext || tag, AES-256-GCM)."""
    lib = _crypto()
    assert len(key) == 32 and len(box) >= AEAD_NONCE + AEAD_TAG
    nonce, ct, tag = (box[:AEAD_NONCE], box[AEAD_NONCE:-AEAD_TAG],
                      box[-AEAD_TAG:])
    ctx = lib.EVP_CIPHER_CTX_new()
    assert ctx
    try:
        n = ctypes.c_int(0)
        out = ctypes.create_string_buffer(len(ct) + 16)
        tail = ctypes.create_string_buffer(16)
        tagbuf = ctypes.create_string_buffer(tag, len(tag))
        ok = lib.EVP_DecryptInit_ex(ctx, lib.EVP_aes_256_gcm(), None, key,
                                    nonce) == 1
        ok = ok and lib.EVP_DecryptUpdate(ctx, None, ctypes.byref(n), aad,
                                          len(aad)) == 1
        ok = ok and lib.EVP_DecryptUpdate(ctx, out, ctypes.byref(n), ct,
                                          len(ct)) == 1
        got = n.value
        ok = ok and lib.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                            AEAD_TAG, tagbuf) == 1
        ok = ok and lib.EVP_DecryptFinal_ex(ctx, tail, ctypes.byref(n)) == 1
        if not ok:
            raise ValueError("AEAD box does not open")
        return out.raw[:got]
    finally:
        lib.EVP_CIPHER_CTX_free(ctx)


def hkdf_sha256(ikm, salt, info, length=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block = b"", b""
    for i in range((length + 31) // 32):
        block = hmac.new(prk, block + info + bytes([i + 1]),
                         hashlib.sha256).digest()
        okm += block
    return okm[:length]


def _u32(n):
    return n.to_bytes(4, "big")


KTY_CODES = {1: "rsa-2048", 2: "rsa-3072", 3: "rsa-4096", 4: "ec-p256",
             5: "ec-p384", 6: "ed25519", 7: "aes-256", 8: "hmac-sha256"}


class StoreSecrets:
    """Every secret of a key-file-sealed store, read from DIR/vault as
    docs/FORMAT.md describes: .kek (master.key), .mk, .subkeys (by info
    string), .audit_key (PKCS#8 DER) and .materials
    {(vault, key, version): (kty, material)}."""

    SUBKEYS = ("rampart vault key material v1", "rampart vault row mac v1",
               "rampart vault audit head v1", "rampart vault backup v1")

    def __init__(self, vault_dir):
        vault_dir = pathlib.Path(vault_dir)
        self.kek = (vault_dir / "master.key").read_bytes()
        with tempfile.TemporaryDirectory() as tmp:
            # Read a copy, so that nothing is added to the store directory.
            for f in ("store.db", "store.db-wal"):
                if (vault_dir / f).exists():
                    shutil.copyfile(vault_dir / f, pathlib.Path(tmp) / f)
            db = sqlite3.connect(pathlib.Path(tmp) / "store.db")
            try:
                self._read(db)
            finally:
                db.close()

    def _read(self, db):
        meta = dict(db.execute("SELECT name, value FROM meta"))
        self.store_id = meta["store_id"]
        method, params, wrapped = db.execute(
            "SELECT method, params, wrapped FROM seal WHERE id = 1").fetchone()
        assert method == "keyfile", method
        aad = b"rampart-seal-v1\0" + self.store_id + method.encode()
        schema = int.from_bytes(meta["schema"], "little")
        if schema >= 2:  # the schema is bound into the seal from 2 on
            aad += b"\0" + schema.to_bytes(4, "big")
        self.mk = aead_open_box(self.kek, wrapped, aad)
        self.subkeys = {info: hkdf_sha256(self.mk, self.store_id,
                                          info.encode())
                        for info in self.SUBKEYS}
        mkey = self.subkeys["rampart vault key material v1"]
        self.audit_key = aead_open_box(
            mkey, meta["audit_key"],
            b"rampart-audit-key-v1\0" + self.store_id)
        self.materials = {}
        rows = db.execute(
            "SELECT v.name, k.name, k.kty, s.version, s.material"
            " FROM versions s JOIN keys k ON k.id = s.key_id"
            " JOIN vaults v ON v.id = k.vault_id")
        for vname, kname, kty, version, box in rows:
            aad = (b"rampart-vault-key-v1\0" + self.store_id +
                   _u32(len(vname.encode())) + vname.encode() +
                   _u32(len(kname.encode())) + kname.encode() +
                   _u32(version) + _u32(kty))
            self.materials[(vname, kname, version)] = (
                KTY_CODES[kty], aead_open_box(mkey, box, aad))


def private_components(der):
    """The private numbers of a PKCS#8 DER key as openssl `pkey -text`
    prints them: {field: bytes} (RSA: d, p, q, dp, dq, qinv; EC: priv;
    Ed25519: priv), leading zero bytes removed."""
    text = openssl("pkey", "-inform", "DER", "-noout", "-text",
                   input=der).stdout.decode()
    fields = {"privateExponent", "prime1", "prime2", "exponent1",
              "exponent2", "coefficient", "priv"}
    out, cur = {}, None
    for line in text.splitlines():
        head = line.strip().rstrip(":")
        if not line.startswith(" ") and head in fields:
            cur = head
            out[cur] = ""
        elif cur is not None and line.startswith(" ") and \
                all(c in "0123456789abcdef:" for c in line.strip()):
            out[cur] += line.strip().replace(":", "")
        else:
            cur = None
    comps = {k: bytes.fromhex(v).lstrip(b"\0") for k, v in out.items() if v}
    assert comps, text
    return comps


def secret_forms(name, material, kty):
    """{label: bytes} to look for: a symmetric secret as it is; a private
    key as its PKCS#8 DER (label NAME:pkcs8, which also holds the public
    key, so look for it whole) and each private number (NAME:FIELD)."""
    if kty.startswith(("aes", "hmac")):
        return {name: material}
    forms = {f"{name}:pkcs8": material}
    for field, value in private_components(material).items():
        forms[f"{name}:{field}"] = value
    return forms
