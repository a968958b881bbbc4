# SPDX-License-Identifier: Apache-2.0
"""Service encryption through the CLI: files put and read back byte for
byte, bounded memory on a large file, chunk reuse between versions, the
atomic `file get -o`, what each of the three stores holds alone, and who
may touch a tenant's files.

Every store here has a tenant `acme` owned by the principal `alice`; the
administrator made by `rampart init` has no access to its content.
"""
import hashlib
import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from fileutil import (CDC_MAX, CDC_MIN, GCM_TAG, MiB, FileStore,
                      copy_insert, files_containing, is_asan, read_rss,
                      rss_argv, sha256, sha256_file, tree_files,
                      write_random)
from vaultutil import EX_NOINPUT, EX_NOPERM, EX_OK, EX_SOFTWARE, describe

ASAN = is_asan()

# Large-file sizes: ASan makes every byte several times slower.
LARGE = (256 if ASAN else 1024) * MiB
DELTA = (32 if ASAN else 100) * MiB
RSS_LIMIT_KIB = 64 * 1024
LONG = 900  # seconds: timeout of one command on a large file

EX_IOERR = 74

SIZES = [0, 1, 4095, 4096, 1 * MiB, 1 * MiB + 1, 7 * MiB + 123]


@pytest.fixture(scope="module")
def shared(rampart_bin, tmp_path_factory):
    """One store for the tests that only add files to their own paths."""
    return FileStore(rampart_bin, tmp_path_factory.mktemp("files"))


@pytest.fixture
def fs(rampart_bin, tmp_path):
    """A store of the test's own, for tests that break things."""
    return FileStore(rampart_bin, tmp_path)


def no_tmp_files(directory):
    """Temporary outputs of `file get -o` left in directory."""
    return sorted(p.name for p in pathlib.Path(directory).iterdir()
                  if ".tmp-" in p.name)


# ---- round trips --------------------------------------------------------

@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_round_trip(shared, size):
    d = shared.root / f"rt{size}"
    d.mkdir()
    src, out = d / "in", d / "out"
    sha = write_random(src, size)
    ref = f"acme/www/rt/{size}.bin"
    assert shared.put(ref, src) == 1
    res = shared.as_owner("file", "get", ref, "-o", out, "--json",
                          check=EX_OK)
    assert res.json() == {"file": ref, "version": 1, "out": str(out),
                          "bytes": size}, res.stdout
    assert out.stat().st_size == size
    assert sha256_file(out) == sha
    assert (out.stat().st_mode & 0o777) == 0o600
    assert no_tmp_files(d) == []
    # To stdout too.
    res = shared.as_owner("file", "get", ref, check=EX_OK)
    assert sha256(res.out) == sha
    [v] = shared.versions(ref)
    assert (v["version"], v["size"]) == (1, size), v
    # Chunks: minimum 256 KiB, maximum 1 MiB (docs/FORMAT.md "Chunks").
    most = max(1, -(-size // CDC_MIN))
    assert -(-size // CDC_MAX) <= v["chunks"] <= most, v


def test_stdin_stdout(shared):
    data = os.urandom(1 * MiB + 1)
    ref = "acme/pipe/data.bin"
    res = shared.as_owner("file", "put", ref, check=EX_OK, input=data)
    assert res.stdout == f"{ref} version 1\n"
    res = shared.as_owner("file", "put", ref, "-i", "-", "--json",
                          check=EX_OK, input=data[::-1])
    assert res.json() == {"file": ref, "version": 2}
    assert shared.as_owner("file", "get", ref, "--version", 1,
                           check=EX_OK).out == data
    assert shared.as_owner("file", "get", ref, "-o", "-",
                           check=EX_OK).out == data[::-1]


def test_versions(shared):
    d = shared.root / "versions"
    d.mkdir()
    ref = "acme/www/docs/report.pdf"
    shas, sizes = [], [3 * MiB + 17, 2 * MiB, 5 * MiB - 3]
    for i, size in enumerate(sizes, 1):
        shas.append(write_random(d / f"v{i}", size))
        assert shared.put(ref, d / f"v{i}") == i
    for i, sha in enumerate(shas, 1):
        assert shared.get_sha(ref, d / "out", version=i) == sha, i
    assert shared.get_sha(ref, d / "out") == shas[-1]
    res = shared.as_owner("file", "get", ref, "-o", d / "latest", "--json",
                          check=EX_OK)
    assert res.json()["version"] == 3
    listed = shared.versions(ref)
    assert [(v["version"], v["size"]) for v in listed] == \
        list(zip((1, 2, 3), sizes)), listed
    [row] = [f for f in shared.ls("www") if f["path"] == "docs/report.pdf"]
    assert (row["versions"], row["size"]) == (3, sizes[-1]), row
    # Prefix listing.
    res = shared.as_owner("file", "ls", "acme/www", "--prefix", "docs/",
                          "--json", check=EX_OK)
    assert [f["path"] for f in res.json()] == ["docs/report.pdf"]
    # A version that does not exist.
    res = shared.get(ref, d / "out4", version=4, check=EX_NOINPUT)
    assert not (d / "out4").exists() and no_tmp_files(d) == []
    shared.as_owner("file", "get", ref, "--version", "0", check=64)


# ---- a large file, bounded memory ---------------------------------------

def test_large_file_bounded_memory(rampart_bin, tmp_path):
    """A large file put and read back through pipes (no copy of it on disk
    but the blob store's), with the peak RSS of each command."""
    fs = FileStore(rampart_bin, tmp_path)
    ref = "acme/big/blob.bin"
    rss = {}

    def start(verb, *args, **kw):
        rss_file = tmp_path / f"{verb}.rss"
        argv = rss_argv(fs.argv("file", verb, ref, *args), rss_file)
        err = open(tmp_path / f"{verb}.err", "w+b")
        proc = subprocess.Popen(argv, env=fs.env(fs.owner_token),
                                stderr=err, **kw)
        return proc, rss_file, err

    def finish(verb, proc, rss_file, err):
        rc = proc.wait(timeout=LONG)
        err.seek(0)
        assert rc == 0, (verb, rc, err.read())
        err.close()
        rss[verb] = read_rss(rss_file)

    try:
        t0 = time.monotonic()
        with open(tmp_path / "put.out", "w+b") as out:
            proc, rss_file, err = start("put", "--json",
                                        stdin=subprocess.PIPE, stdout=out)
            sha = write_random(proc.stdin, LARGE)
            proc.stdin.close()
            finish("put", proc, rss_file, err)
            out.seek(0)
            assert json.loads(out.read()) == {"file": ref, "version": 1}
        t1 = time.monotonic()
        proc, rss_file, err = start("get", stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE)
        h, n = hashlib.sha256(), 0
        while True:
            b = proc.stdout.read(MiB)
            if not b:
                break
            h.update(b)
            n += len(b)
        proc.stdout.close()
        finish("get", proc, rss_file, err)
        t2 = time.monotonic()
        assert n == LARGE
        assert h.hexdigest() == sha
        print(f"{LARGE >> 20} MiB: put in {t1 - t0:.1f} s, get in "
              f"{t2 - t1:.1f} s; peak RSS put {rss['put']} KiB, get "
              f"{rss['get']} KiB")
        # ASan's shadow memory and quarantine inflate the RSS many times
        # over, so the bound is only checked on the normal build.
        if not ASAN:
            assert rss["put"] < RSS_LIMIT_KIB, rss
            assert rss["get"] < RSS_LIMIT_KIB, rss
        [v] = fs.versions(ref)
        assert v["size"] == LARGE
        # A blob is exactly a chunk and its GCM tag (docs/FORMAT.md).
        assert fs.blob_bytes() == LARGE + v["chunks"] * GCM_TAG
    finally:
        # Gigabytes: do not leave them to pytest's kept temporary dirs.
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


# ---- chunk reuse --------------------------------------------------------

def test_insert_one_byte_stores_little(fs, tmp_path):
    v1, v2, out = tmp_path / "v1", tmp_path / "v2", tmp_path / "out"
    ref = "acme/www/delta.bin"
    sha1 = write_random(v1, DELTA)
    assert fs.put(ref, v1) == 1
    before = fs.blob_bytes()
    assert before >= DELTA
    sha2 = copy_insert(v1, v2, DELTA // 2, b"\xa5")
    assert fs.put(ref, v2) == 2
    grown = fs.blob_bytes() - before
    print(f"{DELTA >> 20} MiB + 1 byte in the middle: blob store grew by "
          f"{grown} bytes")
    assert 0 < grown < 2 * MiB, grown
    # Version 1 is intact, version 2 is the new content.
    assert fs.get_sha(ref, out, version=1) == sha1
    assert fs.get_sha(ref, out, version=2) == sha2
    assert fs.get_sha(ref, out) == sha2
    rep = fs.check_store(deep=True, check=EX_OK)[1]
    assert rep["ok"] and rep["orphans"] == [] and rep["versions"] == 2, rep
    for p in (v1, v2, out):
        p.unlink()
    shutil.rmtree(fs.data)


def test_paths_cannot_drive_the_terminal(fs, tmp_path):
    """A path may hold C1 controls (U+0080-009F: what Latin-1 decoding
    makes of Windows-1252 text; C0 and DEL are refused): file ls and the
    tenant's audit show them as '?', so a user's file name cannot move the cursor
    (CSI) or start a line (NEL) on an administrator's terminal. --json
    keeps the exact name."""
    src = tmp_path / "x"
    src.write_bytes(b"x")
    name = "a\u0085FAKE\u009b2J.txt"
    assert fs.put("acme/www/" + name, src) == 1
    ls = fs.as_owner("file", "ls", "acme/www", check=EX_OK).out
    tail = fs.as_owner("tenant", "audit", "acme", "-n", "20",
                       check=EX_OK).out
    for out in (ls, tail):
        assert b"\xc2\x85" not in out and b"\xc2\x9b" not in out, out
    assert b"a??FAKE??2J.txt" in ls, ls
    assert b"a??FAKE??2J.txt" in tail, tail
    names = [f["path"] for f in fs.as_owner("file", "ls", "acme/www",
                                              "--json",
                                              check=EX_OK).json()]
    assert names == [name], names


# ---- file get -o is atomic ----------------------------------------------

def test_get_out_file_atomic_on_corrupt_blob(fs, tmp_path):
    src = tmp_path / "c.in"
    sha = write_random(src, 3 * MiB)
    ref = "acme/www/c.bin"
    fs.put(ref, src)
    blobs = fs.blob_files()
    assert len(blobs) >= 3, blobs
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    out, fresh = outdir / "out", outdir / "fresh"
    sentinel = b"sentinel: must survive a failed get\n"
    out.write_bytes(sentinel)
    # Each blob in turn (the first chunk fails before anything is
    # written, later ones after part of the file was).
    for blob in blobs:
        good = blob.read_bytes()
        bad = bytearray(good)
        bad[len(bad) // 3] ^= 0x40
        blob.write_bytes(bytes(bad))
        for target in (out, fresh):
            res = fs.get(ref, target, check=None)
            assert res.returncode == EX_NOPERM, describe(res, EX_NOPERM)
            assert res.out == b""
            assert "authentic" in res.stderr or "corrupt" in res.stderr, \
                res.stderr
        assert out.read_bytes() == sentinel
        assert not fresh.exists()
        assert no_tmp_files(outdir) == []
        # Deep check: inconsistent, naming the file; shallow: sizes match.
        res = fs.run("store", "check", "--deep")
        assert res.returncode == 1, describe(res, 1)
        assert "c.bin" in res.stdout, res.stdout
        assert "INCONSISTENT" in res.stdout
        res, rep = fs.check_store(deep=True, check=1)
        assert rep["ok"] is False and len(rep["problems"]) == 1, rep
        assert "c.bin" in rep["problems"][0], rep
        res = fs.run("store", "check", check=EX_OK)
        assert "consistent" in res.stdout
        blob.write_bytes(good)
    assert fs.get_sha(ref, out) == sha
    fs.check_store(deep=True, check=EX_OK)


def test_get_out_file_interrupted(fs, tmp_path):
    """SIGTERM during `file get -o`: the temporary file goes, and FILE is
    left as it was (or, when the signal came after the rename, complete:
    never partial)."""
    src = tmp_path / "t.in"
    size = 48 * MiB
    sha = write_random(src, size)
    ref = "acme/www/t.bin"
    fs.put(ref, src)
    src.unlink()
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    out = outdir / "out"
    t0 = time.monotonic()
    fs.get(ref, out)
    full = time.monotonic() - t0
    sentinel = b"sentinel\n"
    interrupted = 0
    for frac in (0.5, 0.3, 0.15, 0.08, 0.04):
        out.write_bytes(sentinel)
        proc = subprocess.Popen(fs.argv("file", "get", ref, "-o", out),
                                env=fs.env(fs.owner_token),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(full * frac)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=LONG)
        assert stdout == b""
        assert no_tmp_files(outdir) == [], (frac, proc.returncode)
        if out.stat().st_size == size:
            assert sha256_file(out) == sha
            continue  # finished first
        assert proc.returncode in (-signal.SIGTERM, EX_IOERR), \
            (proc.returncode, stderr)
        assert out.read_bytes() == sentinel
        interrupted += 1
    assert interrupted > 0, "every get finished before the signal"
    shutil.rmtree(fs.data)


def test_get_out_file_size_limit(fs, tmp_path):
    """Under a file-size limit (ulimit -f): output that fits is written
    whole (the direct writer never pads past the data), output that does
    not is an I/O error, not a SIGXFSZ death, and in both cases no
    temporary file of plaintext is left behind."""
    import resource

    limit = 8193 * 1024          # 8,389,632 bytes
    fits, over = 8389000, 9 * MiB  # fits; a padded last block would not
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    out = outdir / "out"
    sentinel = b"sentinel\n"

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    for size, ok in ((fits, True), (over, False)):
        src = tmp_path / f"l{size}.in"
        sha = write_random(src, size)
        ref = f"acme/www/l{size}.bin"
        fs.put(ref, src)
        out.write_bytes(sentinel)
        proc = subprocess.run(fs.argv("file", "get", ref, "-o", out),
                              env=fs.env(fs.owner_token),
                              stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=LONG,
                              preexec_fn=limited)
        assert no_tmp_files(outdir) == [], (size, proc.returncode)
        if ok:
            assert proc.returncode == EX_OK, proc.stderr
            assert sha256_file(out) == sha
        else:
            assert proc.returncode == EX_IOERR, (proc.returncode,
                                                 proc.stderr)
            assert b"File too large" in proc.stderr, proc.stderr
            assert out.read_bytes() == sentinel
            # To standard output (a file under the same limit): an
            # error too, never death by SIGXFSZ.
            with open(outdir / "stdout", "wb") as f:
                proc = subprocess.run(fs.argv("file", "get", ref),
                                      env=fs.env(fs.owner_token),
                                      stdin=subprocess.DEVNULL, stdout=f,
                                      stderr=subprocess.PIPE,
                                      timeout=LONG, preexec_fn=limited)
            assert proc.returncode == EX_IOERR, (proc.returncode,
                                                 proc.stderr)
            assert b"File too large" in proc.stderr, proc.stderr


# ---- separation of the three stores -------------------------------------

MARKER_LEN = 32


@pytest.fixture
def marked(fs, tmp_path):
    """A store holding a file whose plaintext has a 32-byte marker many
    times over; returns (store, ref, marker, sha)."""
    marker = ("plaintext-marker-" + os.urandom(8).hex())[:MARKER_LEN]
    marker = marker.encode()
    assert len(marker) == MARKER_LEN
    src = tmp_path / "marked.in"
    sha = write_random(src, 4 * MiB + 5, marker=marker)
    data = src.read_bytes()
    assert data.count(marker) > 200
    ref = "acme/www/secret/plans.txt"
    fs.put(ref, src)
    # A second version sharing most chunks, and a small file.
    fs.put(ref, src)
    fs.as_owner("file", "put", "acme/www/small.txt", check=EX_OK,
                input=marker * 3)
    src.unlink()
    return fs, ref, marker, sha


def every_file_command(ref, out):
    tenant, site = ref.split("/")[:2]
    return [["file", "get", ref],
            ["file", "get", ref, "-o", out],
            ["file", "get", ref, "--version", "1"],
            ["file", "put", ref, "-i", "-"],
            ["file", "ls", f"{tenant}/{site}"],
            ["file", "versions", ref],
            ["file", "rm", ref]]


def assert_no_marker(results, marker):
    for res in results:
        for stream in (res.out, res.err):
            assert marker not in stream, describe(res)
            assert marker.hex().encode() not in stream.lower(), describe(res)


def test_no_plaintext_at_rest(marked):
    fs, ref, marker, sha = marked
    for where in (fs.blobs_dir, fs.content_dir, fs.vault_dir):
        assert tree_files(where), where
        assert files_containing(where, marker) == [], where
        assert files_containing(where, marker.hex().encode()) == [], where
        # A marker piece of 16 bytes neither.
        assert files_containing(where, marker[8:24]) == [], where
    # Nor in anything a command printed (the gets below aside).
    assert_no_marker(fs.log, marker)
    # The owner gets it all back.
    assert fs.get_sha(ref, fs.root / "back") == sha


def test_without_master_key_everything_fails(marked):
    fs, ref, marker, sha = marked
    mk = fs.vault_dir / "master.key"
    away = fs.root / "master.key.away"
    os.rename(mk, away)
    outdir = fs.root / "outdir"
    outdir.mkdir()
    out = outdir / "out"
    results = []
    try:
        cmds = every_file_command(ref, out) + [
            ["tenant", "list"], ["dep", "show", "acme"],
            ["store", "check"], ["store", "check", "--deep"],
            ["audit", "verify"], ["principal", "list"]]
        for token in (fs.owner_token, fs.token):
            for cmd in cmds:
                res = fs.run(*cmd, token=token, input=marker * 10)
                results.append(res)
                assert res.returncode == EX_NOPERM, describe(res, EX_NOPERM)
                assert res.out == b"", describe(res)
        assert not out.exists() and no_tmp_files(outdir) == []
    finally:
        os.rename(away, mk)
    assert_no_marker(results, marker)
    assert fs.leftover_files() == []
    # Back in place: all there, nothing lost.
    assert fs.get_sha(ref, out) == sha
    assert [v["version"] for v in fs.versions(ref)] == [1, 2]
    fs.check_store(deep=True, check=EX_OK)


def test_without_content_db_file_commands_fail(marked):
    fs, ref, marker, sha = marked
    away = fs.root / "content.away"
    os.rename(fs.content_dir, away)
    outdir = fs.root / "outdir"
    outdir.mkdir()
    out = outdir / "out"
    blobs_before = sorted(fs.blob_files())
    results = []
    try:
        for cmd in every_file_command(ref, out) + [["dep", "show", "acme"]]:
            res = fs.as_owner(*cmd, input=marker * 10)
            results.append(res)
            assert res.returncode == EX_NOINPUT, describe(res, EX_NOINPUT)
            assert "no content DB here" in res.stderr, describe(res)
            assert res.out == b"", describe(res)
        for cmd in (["store", "check"], ["store", "check", "--deep"],
                    ["tenant", "list"]):
            res = fs.run(*cmd)
            results.append(res)
            assert res.returncode == EX_NOINPUT, describe(res, EX_NOINPUT)
            assert "no content DB here" in res.stderr, describe(res)
        assert not out.exists() and no_tmp_files(outdir) == []
        # No content DB made anew, no blob written or removed.
        assert not fs.content_dir.exists()
        assert sorted(fs.blob_files()) == blobs_before
    finally:
        os.rename(away, fs.content_dir)
    assert_no_marker(results, marker)
    # The vault alone still works.
    fs.run("audit", "verify", check=EX_OK)
    assert fs.get_sha(ref, out) == sha
    fs.check_store(deep=True, check=EX_OK)


def test_without_blob_store_reads_fail(marked):
    fs, ref, marker, sha = marked
    away = fs.root / "blobs.away"
    os.rename(fs.blobs_dir, away)
    outdir = fs.root / "outdir"
    outdir.mkdir()
    out = outdir / "out"
    results = []
    try:
        for cmd in (["file", "get", ref], ["file", "get", ref, "-o", out],
                    ["file", "put", ref, "-i", "-"]):
            res = fs.as_owner(*cmd, input=marker * 10)
            results.append(res)
            assert res.returncode == EX_NOINPUT, describe(res, EX_NOINPUT)
            assert res.out == b"", describe(res)
            assert "blob store (blobs/) is missing" in res.stderr, \
                describe(res)
        assert not out.exists() and no_tmp_files(outdir) == []
        assert not fs.blobs_dir.exists()
    finally:
        os.rename(away, fs.blobs_dir)
    assert_no_marker(results, marker)
    assert [v["version"] for v in fs.versions(ref)] == [1, 2]
    assert fs.get_sha(ref, out) == sha


# ---- who may touch a tenant's files -------------------------------------

def test_only_the_owner_gets_in(marked):
    fs, ref, marker, sha = marked
    other, _ = fs.make_principal("mallory")
    outdir = fs.root / "outdir"
    outdir.mkdir()
    out = outdir / "out"
    results = []
    rids = []
    for who, token in (("admin", fs.token), ("mallory", other)):
        for cmd in every_file_command(ref, out) + [
                ["file", "put", "acme/newsite/x", "-i", "-"],
                ["file", "ls", "acme/newsite"],
                ["dep", "roll", "acme/default"]]:
            rid = f"deny-{len(rids):03d}"
            rids.append(rid)
            res = fs.run(*cmd, "--request-id", rid, token=token,
                         input=marker * 10)
            results.append(res)
            assert res.returncode == EX_NOPERM, (who, describe(res, 77))
            assert res.out == b"", (who, describe(res))
    assert not out.exists() and no_tmp_files(outdir) == []
    # mallory sees no tenant; only administrators run store check.
    assert fs.json("tenant", "list", token=other) == []
    fs.run("store", "check", token=other, check=EX_NOPERM)
    fs.run("store", "check", token=fs.owner_token, check=EX_NOPERM)
    assert_no_marker(results, marker)
    # Nothing changed: no new version, no new site, no file removed.
    assert [v["version"] for v in fs.versions(ref)] == [1, 2]
    assert sorted(f["path"] for f in fs.ls("www")) == \
        ["secret/plans.txt", "small.txt"]
    fs.as_owner("file", "ls", "acme/newsite", check=EX_NOINPUT)
    assert fs.get_sha(ref, out) == sha
    # The audit log has every refusal, as such.
    fs.audit_verify()
    tail = fs.run("audit", "tail", "-n", "100000", "--json", check=EX_OK)
    recs = {}
    for line in tail.stdout.splitlines():
        rec = json.loads(line)
        recs.setdefault(rec["request_id"], []).append(rec)
    for rid in rids:
        assert [r["outcome"] for r in recs.get(rid, [])] == ["denied"], \
            (rid, recs.get(rid))


def test_edited_membership_fails_closed(fs, tmp_path):
    """A tenant member row raised to admin in content.db behind the
    service's back: the member's commands fail as corrupt (exit 70), the
    change grants nothing, and store check names the row."""
    src = tmp_path / "in"
    src.write_bytes(b"members only\n")
    bob, _ = fs.make_principal("bob")
    fs.make_principal("carol")
    fs.as_owner("tenant", "member", "set", fs.tenant, "bob", "--role",
                "user", check=EX_OK)
    fs.put("acme/www/doc", src)
    out = tmp_path / "out"
    fs.get("acme/www/doc", out, token=bob)
    assert out.read_bytes() == b"members only\n"
    out.unlink()
    # bob may not manage members as a user.
    fs.run("tenant", "member", "set", fs.tenant, "bob", "--role", "admin",
           token=bob, check=EX_NOPERM)
    db = sqlite3.connect(fs.content_dir / "content.db")
    with db:
        db.execute("UPDATE tenant_members SET role = 2"
                   " WHERE principal = 'bob'")
    db.close()
    res = fs.get("acme/www/doc", out, token=bob, check=EX_SOFTWARE)
    assert b"integrity check" in res.err, describe(res)
    assert not out.exists()
    fs.run("tenant", "member", "set", fs.tenant, "carol", "--role",
           "admin", token=bob, check=EX_SOFTWARE)
    res, report = fs.check_store(check=1)
    assert report["ok"] is False
    assert any("member row" in p for p in report["problems"]), report


def test_edited_sizes_fail_listings(fs, tmp_path):
    """versions.size edited in content.db (no key needed): `file ls` and
    `file versions` fail as corrupt instead of showing it, while the
    file itself still reads back whole (its size is the sealed map's)."""
    src = tmp_path / "in"
    write_random(src, 3 * MiB)
    ref = "acme/www/sized.bin"
    fs.put(ref, src)
    sha = write_random(src, 2 * MiB)
    fs.put(ref, src)
    v1, v2 = fs.versions(ref)
    assert (v1["size"], v2["size"]) == (3 * MiB, 2 * MiB), (v1, v2)
    db = sqlite3.connect(fs.content_dir / "content.db")
    with db:
        db.execute("UPDATE versions SET size = 1000 WHERE version = 1")
    db.close()
    for args in (("file", "versions", ref),):
        res = fs.as_owner(*args, check=EX_SOFTWARE)
        assert "corrupt" in res.stderr or "integrity" in res.stderr, \
            describe(res)
        assert res.stdout == "", describe(res)
    # ls shows the latest version, whose row is intact; get --json (which
    # asks for the latest version's size first) looks at no other row.
    [row] = fs.as_owner("file", "ls", "acme/www", "--json",
                        check=EX_OK).json()
    assert row["size"] == 2 * MiB, row
    out = tmp_path / "out"
    res = fs.as_owner("file", "get", ref, "-o", out, "--json", check=EX_OK)
    assert res.json()["version"] == 2 and sha256_file(out) == sha
    db = sqlite3.connect(fs.content_dir / "content.db")
    with db:
        db.execute("UPDATE versions SET size = 1000 WHERE version = 2")
    db.close()
    for args in (("file", "versions", ref), ("file", "ls", "acme/www")):
        res = fs.as_owner(*args, check=EX_SOFTWARE)
        assert "corrupt" in res.stderr or "integrity" in res.stderr, \
            describe(res)
        assert res.stdout == "", describe(res)
    assert fs.get_sha(ref, tmp_path / "out2") == sha


def test_swapped_paths_fail(fs, tmp_path):
    """Two files' paths swapped in content.db (no key needed): neither
    path serves the other file's content; both fail as corrupt, and
    store check names the rows."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"the contract\n")
    b.write_bytes(b"an old draft\n")
    fs.put("acme/www/contract.txt", a)
    fs.put("acme/www/draft.txt", b)
    db = sqlite3.connect(fs.content_dir / "content.db")
    with db:
        db.execute("UPDATE files SET path = 'x' WHERE path = 'contract.txt'")
        db.execute("UPDATE files SET path = 'contract.txt'"
                   " WHERE path = 'draft.txt'")
        db.execute("UPDATE files SET path = 'draft.txt' WHERE path = 'x'")
    db.close()
    for ref in ("acme/www/contract.txt", "acme/www/draft.txt"):
        res = fs.as_owner("file", "get", ref, check=EX_SOFTWARE)
        assert res.out == b"", describe(res)
        assert b"integrity" in res.err or b"corrupt" in res.err, \
            describe(res)
    res, report = fs.check_store(check=1)
    assert report["ok"] is False
    assert sum("file row" in p for p in report["problems"]) == 2, report


def test_rm_help_says_blobs_stay_until_collect(fs):
    """`file rm` leaves the blobs for `store check --collect` (request
    handling never holds the delete credential): its help must say so,
    not that they are deleted."""
    src = fs.root / "in"
    write_random(src, 3000)
    ref = "acme/www/rm-help.bin"
    assert fs.put(ref, src) == 1
    blobs = [p for p in tree_files(fs.blobs_dir) if "acct-" in str(p)
             and not p.name.startswith(".")]
    assert len(blobs) == 1
    fs.as_owner("file", "rm", ref, check=EX_OK)
    assert blobs[0].exists()
    res = fs.run("file", "rm", "--help", check=EX_OK)
    text = " ".join((res.out + res.err).decode().split())
    assert "blobs are deleted" not in text, text
    assert "store check --collect" in text, text
