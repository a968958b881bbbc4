# SPDX-License-Identifier: Apache-2.0
"""Helpers for integration tests of service encryption (tenants, DEPs,
files encrypted chunk by chunk).

    fs = FileStore(rampart_bin, tmp_path)     # init, principal alice,
                                               # tenant acme owned by alice
    sha = write_random(tmp_path / "in", 5 << 20)
    v = fs.put("acme/www/a.bin", tmp_path / "in")        # -> 1
    fs.get("acme/www/a.bin", tmp_path / "out", version=v)
    assert sha256_file(tmp_path / "out") == sha

The administrator made by `rampart init` has no standing access to the
tenant's content: file commands run with the owner's token by default
(owner_token); pass token=fs.token for the administrator. Everything runs
through the CLI; tokens only travel in RAMPART_TOKEN (see vaultutil.Store).
"""
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

from vaultutil import EX_OK, Store, check_exit, describe

MiB = 1 << 20
KiB = 1 << 10

# docs/FORMAT.md "Chunks": chunk sizes (all but the last chunk of a version
# are at least CDC_MIN); a blob is a chunk and its GCM tag.
CDC_MIN = 256 * KiB
CDC_MAX = 1 * MiB
GCM_TAG = 16

BLOCK = 1 * MiB


def is_asan():
    """Whether the programs under test come from the ASan build."""
    return os.environ.get("RAMPART_BUILD", "").rstrip("/").endswith("asan")


# ---- data ---------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class _Keystream:
    """Pseudo-random bytes, fast: the AES-256-CTR keystream of a random key
    (openssl enc over /dev/zero), about 1 GB/s; os.urandom without openssl.
    """

    def __init__(self):
        self.proc = None
        if shutil.which("openssl") is None:
            return
        key, iv = os.urandom(32).hex(), os.urandom(16).hex()
        self.zero = open("/dev/zero", "rb")
        self.proc = subprocess.Popen(
            ["openssl", "enc", "-aes-256-ctr", "-nosalt", "-K", key,
             "-iv", iv],
            stdin=self.zero, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)

    def read(self, n):
        if self.proc is None:
            return os.urandom(n)
        out = bytearray()
        while len(out) < n:
            b = self.proc.stdout.read(n - len(out))
            assert b, "openssl enc stopped"
            out += b
        return bytes(out)

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.stdout.close()
            self.proc.wait()
            self.zero.close()
            self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_random(path, size, marker=None, every=None):
    """Write size random bytes to path (or to a binary file object, for
    example a pipe to a command, left open) in 1 MiB blocks; return the
    sha256 (hex). With marker, the bytes marker are put at every
    `every`-th offset (default: about 64 times a MiB), so that the file
    holds them many times."""
    if not hasattr(path, "write"):
        with open(path, "wb") as f:
            return write_random(f, size, marker=marker, every=every)
    f = path
    h = hashlib.sha256()
    if marker is not None and every is None:
        every = 16 * KiB + 7
    done = 0
    with _Keystream() as ks:
        while done < size:
            n = min(BLOCK, size - done)
            b = ks.read(n)
            if marker is not None:
                b = bytearray(b)
                # Positions where a whole marker fits in this block.
                first = -(-done // every) * every
                for pos in range(first, done + n - len(marker) + 1, every):
                    b[pos - done:pos - done + len(marker)] = marker
                b = bytes(b)
            h.update(b)
            f.write(b)
            done += n
    return h.hexdigest()


def copy_insert(src, dst, offset, data):
    """Copy src to dst with data inserted at offset; return the sha256."""
    h = hashlib.sha256()
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        def put(b):
            h.update(b)
            fo.write(b)
        left = offset
        while left > 0:
            b = fi.read(min(BLOCK, left))
            assert b, "offset past the end"
            put(b)
            left -= len(b)
        put(data)
        while True:
            b = fi.read(BLOCK)
            if not b:
                break
            put(b)
    return h.hexdigest()


def tree_files(root):
    """Every regular file under root (recursively), sorted."""
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            p = pathlib.Path(d) / n
            if p.is_file() and not p.is_symlink():
                out.append(p)
    return sorted(out)


def files_containing(root, needle):
    """Files under root whose bytes contain needle (read in blocks that
    overlap by len(needle) - 1, so no occurrence is missed)."""
    hits = []
    for p in tree_files(root):
        with open(p, "rb") as f:
            tail = b""
            while True:
                b = f.read(4 * MiB)
                if not b:
                    break
                if needle in tail + b:
                    hits.append(p)
                    break
                tail = b[-(len(needle) - 1):] if len(needle) > 1 else b""
    return hits


# ---- peak memory ----------------------------------------------------------

GNU_TIME = "/usr/bin/time"

# Runs argv[1:] as its only child and writes that child's peak RSS (KiB)
# to the file named by argv[1]; its own exit status is the child's.
_RSS_WRAPPER = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)
"""


def rss_argv(argv, rss_file):
    """argv wrapped so that the peak RSS of the command (KiB) ends up in
    rss_file: GNU time -f %M -o FILE, or a fresh Python process that runs
    the command as its only child and reads RUSAGE_CHILDREN."""
    if os.access(GNU_TIME, os.X_OK):
        return [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
    return [sys.executable, "-c", _RSS_WRAPPER, str(rss_file), *argv]


def read_rss(rss_file):
    """Peak RSS in KiB written by rss_argv's wrapper (its last line: GNU
    time puts "Command exited with non-zero status" lines before it)."""
    lines = pathlib.Path(rss_file).read_text().split()
    return int(lines[-1])


# ---- a store with a tenant --------------------------------------------------

class FileStore(Store):
    """A store (vaultutil.Store) with principal `owner` and a tenant owned
    by it. owner_token is that principal's token; file commands use it
    unless told otherwise."""

    def __init__(self, binary, root, tenant="acme", owner="alice",
                 extra_env=None):
        super().__init__(binary, root, extra_env=extra_env)
        self.blobs_dir = self.data / "blobs"
        self.content_dir = self.data / "content"
        self.owner = owner
        self.owner_token, _ = self.make_principal(owner)
        self.tenant = tenant
        self.make_tenant(tenant, owner)

    def make_tenant(self, name, owner):
        out = self.json("tenant", "create", name, "--owner", owner)
        assert out == {"ok": True, "tenant": name}, out
        return name

    def as_owner(self, *args, check=None, input=None, token=None, **kw):
        """Run a command with the owner's token (or token)."""
        return self.run(*args, token=self.owner_token if token is None
                        else token, check=check, input=input, **kw)

    # ---- files ------------------------------------------------------------

    def put(self, ref, path, token=None, check=EX_OK, timeout=None):
        """file put REF -i PATH --json; returns the version it reports (or
        the Result when check is not 0)."""
        kw = {} if timeout is None else {"timeout": timeout}
        res = self.as_owner("file", "put", ref, "-i", path, "--json",
                            token=token, **kw)
        check_exit(res, check)
        if check != EX_OK:
            return res
        out = res.json()
        assert out["file"] == ref and out["version"] >= 1, out
        return out["version"]

    def get(self, ref, out, version=None, token=None, check=EX_OK,
            timeout=None):
        """file get REF -o OUT [--version N]; returns the Result."""
        args = ["file", "get", ref, "-o", out]
        if version is not None:
            args += ["--version", version]
        kw = {} if timeout is None else {"timeout": timeout}
        res = self.as_owner(*args, token=token, **kw)
        check_exit(res, check)
        if check == EX_OK:
            assert res.out == b"", describe(res)
        return res

    def get_sha(self, ref, out, version=None, token=None):
        """Read a version into out and return its sha256."""
        self.get(ref, out, version=version, token=token)
        return sha256_file(out)

    def versions(self, ref, token=None):
        res = self.as_owner("file", "versions", ref, "--json", token=token,
                            check=EX_OK)
        return res.json()

    def ls(self, site, token=None):
        res = self.as_owner("file", "ls", f"{self.tenant}/{site}", "--json",
                            token=token, check=EX_OK)
        return res.json()

    def check_store(self, deep=False, collect=False, check=None):
        """store check [--deep] [--collect] --json (administrator); returns
        (Result, report)."""
        args = ["store", "check", "--json"]
        if deep:
            args.append("--deep")
        if collect:
            args.append("--collect")
        res = self.run(*args, check=check)
        return res, res.json()

    # ---- the blob store ---------------------------------------------------

    def blob_files(self):
        """The blobs (not temporary files) under DATA/blobs/acct-*/."""
        return [p for p in tree_files(self.blobs_dir)
                if p.parent.parent.name.startswith("acct-")]

    def blob_tmp_files(self):
        """Temporary files of blobs being written (acct-NN/.tmp-*)."""
        return [p for p in tree_files(self.blobs_dir)
                if p.parent.name.startswith("acct-") and
                p.name.startswith(".tmp-")]

    def blob_bytes(self):
        return sum(p.stat().st_size for p in self.blob_files())

    # ---- Customer Key DEPs ------------------------------------------------

    def make_customer_dep(self, tenant, name, prefix, token=None,
                          assign=True):
        """Two purge-protected vaults PREFIX-a and PREFIX-b owned by the
        tenant's owner, an RSA-2048 key `root` in each, wrap and unwrap
        granted to rampart-service, DEP TENANT/NAME on them (assigned).
        Returns the two roots."""
        tok = self.owner_token if token is None else token
        owner = self.owner
        roots = []
        for side in ("a", "b"):
            vault = f"{prefix}-{side}"
            self.make_vault(vault, purge_protection=True, owner=owner)
            self.make_key(f"{vault}/root", "rsa-2048", token=tok)
            self.grant(vault, "rampart-service", "wrap,unwrap", token=tok)
            roots.append(f"{vault}/root")
        out = self.json("dep", "create", f"{tenant}/{name}", "--root",
                        roots[0], "--root", roots[1], token=tok)
        assert out == {"ok": True, "dep": f"{tenant}/{name}"}, out
        if assign:
            out = self.json("dep", "assign", f"{tenant}/{name}", token=tok)
            assert out == {"ok": True, "dep": f"{tenant}/{name}"}, out
        return roots

    def dep_state(self, tenant, name, token=None):
        tok = self.owner_token if token is None else token
        for d in self.json("dep", "show", tenant, token=tok):
            if d["name"] == name:
                return d
        raise AssertionError(f"no DEP {tenant}/{name}")
