# SPDX-License-Identifier: Apache-2.0
"""Every vault operation through the `rampart` CLI in embedded mode, the
denials and their exit codes, and tampering with the store's SQLite file
(each change must be detected: the call fails or `audit verify` names the
record)."""
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import time

import pytest

EX_CHECK, EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOUSER = 1, 64, 65, 66, 67
EX_UNAVAILABLE, EX_CANTCREAT, EX_NOPERM = 69, 73, 77


class Vault:
    def __init__(self, binary, tmp):
        self.binary = binary
        self.data = tmp / "data"
        p = self.cmd("init", "--data", self.data, "--json", token=None, check=0)
        out = json.loads(p.stdout)
        assert out["unseal"] == "keyfile"
        self.admin = out["token"]
        self.db = self.data / "vault" / "store.db"

    def cmd(self, *args, token="admin", check=None, stdin=None, env=None):
        e = dict(os.environ)
        e.pop("RAMPART_TOKEN", None)
        e["RAMPART_DATA"] = str(self.data)
        if token == "admin":
            token = self.admin
        if token is not None:
            e["RAMPART_TOKEN"] = token
        if env:
            e.update(env)
        p = subprocess.run([str(self.binary), *map(str, args)], env=e,
                           input=stdin, capture_output=True, timeout=120)
        if check is not None:
            assert p.returncode == check, (
                f"{args}: exit {p.returncode}, expected {check}\n"
                f"stdout: {p.stdout[:2000]!r}\nstderr: {p.stderr!r}")
        return p

    def json(self, *args, token="admin", stdin=None):
        return json.loads(self.cmd(*args, "--json", token=token, check=0,
                                   stdin=stdin).stdout)

    def principal(self, name, admin=False):
        args = ["principal", "create", name, "--json"] + (["--admin"] if admin else [])
        return json.loads(self.cmd(*args, check=0).stdout)["token"]

    def audit(self):
        return self.cmd("audit", "verify", "--json")


@pytest.fixture
def v(rampart_bin, tmp_path):
    return Vault(rampart_bin, tmp_path)


def test_init_refuses_existing_store(v):
    p = v.cmd("init", "--data", v.data, token=None)
    assert p.returncode == EX_CANTCREAT
    assert p.stderr.startswith(b"rampart: ")


def test_token_required_and_checked(v):
    assert v.cmd("vault", "list", token=None).returncode == EX_NOUSER
    p = v.cmd("vault", "list", token="rpt_" + "A" * 43)
    assert p.returncode == EX_NOUSER
    assert b"rpt_" not in p.stderr  # the token is not echoed


def test_token_given_as_a_name_is_not_kept(v):
    """A token pasted where a name goes is refused without being echoed
    in the error or kept in the audit log."""
    v.cmd("vault", "create", "v", check=0)
    tail = v.admin[len("rpt_"):].encode()
    for args in (("vault", "show", v.admin),
                 ("vault", "grant", "v", v.admin, "--perms", "get"),
                 ("vault", "revoke", "v", f"principal:{v.admin}", "--perms", "get"),
                 ("group", "add", v.admin, "admin"),
                 ("key", "list", v.admin),
                 ("vault", "list", "--request-id", v.admin)):
        p = v.cmd(*args)
        assert tail not in p.stderr + p.stdout, (args, p.stderr)
    log = v.cmd("audit", "tail", "-n", "1000", "--json", check=0).stdout
    assert tail not in log
    assert b"rpt_..." in log
    assert v.audit().returncode == 0


def test_principals_groups_vaults(v):
    alice = v.principal("alice")
    v.cmd("principal", "create", "alice", check=EX_CANTCREAT)
    names = [p["name"] for p in v.json("principal", "list")]
    assert names == ["admin", "alice", "rampart-service"]
    assert v.json("principal", "whoami", token=alice)["name"] == "alice"
    # only administrators manage principals, groups and vaults
    v.cmd("principal", "create", "eve", token=alice, check=EX_NOPERM)
    v.cmd("group", "create", "g", token=alice, check=EX_NOPERM)
    v.cmd("vault", "create", "v", token=alice, check=EX_NOPERM)
    v.cmd("group", "create", "g", check=0)
    v.cmd("group", "add", "g", "alice", check=0)
    assert v.json("group", "list") == [{"name": "g", "members": ["alice"]}]
    v.cmd("group", "add", "g", "nobody", check=EX_NOINPUT)
    v.cmd("vault", "create", "v", "--owner", "alice", "--retention-days", "7", check=0)
    v.cmd("vault", "create", "v", check=EX_CANTCREAT)
    v.cmd("vault", "create", "w", "--retention-days", "5", check=EX_USAGE)
    v.cmd("vault", "create", "bad/name", check=EX_DATAERR)
    shown = v.json("vault", "show", "v", token=alice)
    assert shown["owner"] == "alice" and shown["retention_days"] == 7
    assert shown["purge_protection"] is False
    v.cmd("vault", "update", "v", "--purge-protection", token=alice, check=0)
    assert v.json("vault", "show", "v")["purge_protection"] is True
    v.cmd("group", "remove", "g", "alice", check=0)
    v.cmd("group", "remove", "g", "alice", check=EX_NOINPUT)
    assert v.audit().returncode == 0


def test_grants_and_denials(v):
    alice, bob = v.principal("alice"), v.principal("bob")
    v.cmd("vault", "create", "v", "--owner", "alice", check=0)
    v.cmd("key", "create", "v/k", "--kty", "aes-256", token=alice, check=0)
    # bob: nothing until granted; admin: no standing access to keys
    for who in (bob, v.admin):
        v.cmd("key", "show", "v/k", token=who, check=EX_NOPERM)
        v.cmd("key", "wrap", "v/k", token=who, stdin=b"k" * 32, check=EX_NOPERM)
    v.cmd("vault", "grant", "v", "bob", "--perms", "get,wrap", token=bob, check=EX_NOPERM)
    v.cmd("vault", "grant", "v", "bob", "--perms", "get,wrap", token=alice, check=0)
    v.cmd("vault", "grant", "v", "bob", "--perms", "fly", token=alice, check=EX_USAGE)
    assert v.json("key", "show", "v/k", token=bob)["kty"] == "aes-256"
    wrapped = v.cmd("key", "wrap", "v/k", token=bob, stdin=b"k" * 32, check=0).stdout
    v.cmd("key", "unwrap", "v/k", token=bob, stdin=wrapped, check=EX_NOPERM)
    assert v.cmd("key", "unwrap", "v/k", token=alice, stdin=wrapped, check=0).stdout == b"k" * 32
    v.cmd("vault", "revoke", "v", "bob", "--perms", "wrap", token=alice, check=0)
    v.cmd("key", "wrap", "v/k", token=bob, stdin=b"k" * 32, check=EX_NOPERM)
    # a revoke that takes nothing away is refused, not reported as done
    v.cmd("vault", "revoke", "v", "bob", "--perms", "wrap", token=alice,
          check=EX_NOINPUT)
    # the owner's standing cannot be revoked
    v.cmd("vault", "revoke", "v", "alice", "--perms", "all", token=alice, check=EX_DATAERR)
    grants = v.json("vault", "show", "v", token=alice)["grants"]
    assert {"subject": "principal:bob", "perms": ["get"]} in grants
    # every denial is in the audit log
    tail = v.cmd("audit", "tail", "-n", "1000", "--json", check=0).stdout.decode()
    recs = [json.loads(line) for line in tail.splitlines()]
    denied = [r for r in recs if r["outcome"] == "denied"]
    assert len(denied) >= 6
    assert any(r["principal"] == "bob" and r["op"] == "key.unwrap" for r in denied)
    assert v.audit().returncode == 0


def test_key_lifecycle(v, tmp_path):
    v.cmd("vault", "create", "v", check=0)
    v.cmd("vault", "grant", "v", "admin", "--perms", "all", check=0)
    for kty in ("rsa-2048", "ec-p256", "ec-p384", "ed25519", "aes-256", "hmac-sha256"):
        out = v.json("key", "create", f"v/{kty}", "--kty", kty)
        assert out["kty"] == kty and out["version"] == 1
    v.cmd("key", "create", "v/x", "--kty", "dsa", check=EX_USAGE)
    v.cmd("key", "create", "v/aes-256", "--kty", "aes-256", check=EX_CANTCREAT)
    names = [k["name"] for k in v.json("key", "list", "v")]
    assert names == sorted(["rsa-2048", "ec-p256", "ec-p384", "ed25519", "aes-256", "hmac-sha256"])
    shown = v.json("key", "show", "v/ec-p256")
    assert shown["jwk"]["kty"] == "EC" and "d" not in shown["jwk"]
    pem = v.cmd("key", "show", "v/ec-p256", "--pem", check=0).stdout
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    # sign / verify for every signing type, with openssl checking ECDSA
    msg = tmp_path / "msg"
    msg.write_bytes(b"the message")
    for k in ("rsa-2048", "ec-p256", "ec-p384", "ed25519", "hmac-sha256"):
        sig = tmp_path / f"{k}.sig"
        v.cmd("key", "sign", f"v/{k}", "--in", msg, "--out", sig, check=0)
        v.cmd("key", "verify", f"v/{k}", "--in", msg, "--sig", sig, check=0)
        bad = tmp_path / "bad"
        bad.write_bytes(b"the messagE")
        p = v.cmd("key", "verify", f"v/{k}", "--in", bad, "--sig", sig)
        assert p.returncode == EX_CHECK and b"signature invalid" in p.stderr
    (tmp_path / "pub.pem").write_bytes(pem)
    subprocess.run(["openssl", "dgst", "-sha256", "-verify", tmp_path / "pub.pem",
                    "-signature", tmp_path / "ec-p256.sig", msg], check=True,
                   capture_output=True)
    # encrypt / decrypt and wrap / unwrap, RSA and AES
    for k, alg in (("rsa-2048", "RSA-OAEP-256"), ("aes-256", "A256GCM")):
        ct = v.cmd("key", "encrypt", f"v/{k}", "--alg", alg, stdin=b"hello", check=0).stdout
        assert v.cmd("key", "decrypt", f"v/{k}", stdin=ct, check=0).stdout == b"hello"
    for alg in ("A256KW", "A256KWP"):
        w = v.cmd("key", "wrap", "v/aes-256", "--alg", alg, stdin=b"0123456789abcdef", check=0).stdout
        assert v.cmd("key", "unwrap", "v/aes-256", "--alg", alg, stdin=w, check=0).stdout == b"0123456789abcdef"
    # wrong type or algorithm for the operation
    v.cmd("key", "wrap", "v/ec-p256", stdin=b"0123456789abcdef", check=EX_DATAERR)
    v.cmd("key", "sign", "v/aes-256", stdin=b"m", check=EX_DATAERR)
    v.cmd("key", "wrap", "v/aes-256", "--alg", "PS256", stdin=b"0123456789abcdef", check=EX_DATAERR)
    v.cmd("key", "unwrap", "v/aes-256", stdin=b"garbage-garbage-garbage!", check=EX_NOPERM)
    v.cmd("key", "wrap", "v/nope", stdin=b"0123456789abcdef", check=EX_NOINPUT)
    v.cmd("key", "wrap", "nope/k", stdin=b"0123456789abcdef", check=EX_NOINPUT)
    v.cmd("key", "wrap", "v", stdin=b"x", check=EX_USAGE)
    assert v.audit().returncode == 0


def test_rotate_versions_set(v, tmp_path):
    v.cmd("vault", "create", "v", check=0)
    v.cmd("vault", "grant", "v", "admin", "--perms", "all", check=0)
    v.cmd("key", "create", "v/k", "--kty", "aes-256", check=0)
    w1 = v.json("key", "wrap", "v/k", stdin=b"s" * 32)
    assert w1["kid"] == "v/k/1"
    wfile = tmp_path / "w1"
    v.cmd("key", "wrap", "v/k", "--out", wfile, stdin=b"s" * 32, check=0)
    assert (wfile.stat().st_mode & 0o777) == 0o600
    assert v.json("key", "rotate", "v/k")["current_version"] == 2
    assert [x["version"] for x in v.json("key", "versions", "v/k")] == [1, 2]
    # the old version still unwraps; the current one does not
    assert v.cmd("key", "unwrap", "v/k/1", "--in", wfile, check=0).stdout == b"s" * 32
    v.cmd("key", "unwrap", "v/k", "--in", wfile, check=EX_NOPERM)
    v.cmd("key", "show", "v/k/9", check=EX_NOINPUT)
    # attributes: disable, ops, expiry
    v.cmd("key", "set", "v/k", "--disable", check=0)
    v.cmd("key", "wrap", "v/k", stdin=b"s" * 32, check=EX_UNAVAILABLE)
    v.cmd("key", "set", "v/k", "--enable", "--ops", "unwrap", check=0)
    v.cmd("key", "wrap", "v/k", stdin=b"s" * 32, check=EX_NOPERM)
    v.cmd("key", "set", "v/k", "--ops", "wrap,unwrap", "--expires", "2001-01-01T00:00:00Z", check=0)
    v.cmd("key", "wrap", "v/k", stdin=b"s" * 32, check=EX_UNAVAILABLE)
    assert v.cmd("key", "unwrap", "v/k/1", "--in", wfile, check=0).stdout == b"s" * 32
    v.cmd("key", "set", "v/k", "--ops", "sign", check=EX_DATAERR)
    v.cmd("key", "set", "v/k", "--expires", "yesterday", check=EX_USAGE)
    shown = v.json("key", "show", "v/k")
    assert shown["ops"] == ["wrap", "unwrap"] and shown["expires"] == 978307200


def test_ops_all_needs_update_only(v):
    """--ops all is resolved by the vault from the key's type, so a
    principal holding only `update` can restore every operation; an import
    key stays one."""
    v.cmd("vault", "create", "v", check=0)
    v.cmd("vault", "grant", "v", "admin", "--perms", "all", check=0)
    v.cmd("key", "create", "v/ec", "--kty", "ec-p256", "--ops", "verify", check=0)
    v.cmd("key", "create", "v/imp", "--kty", "rsa-3072", "--ops", "import", check=0)
    bob = v.principal("bob")
    v.cmd("vault", "grant", "v", "bob", "--perms", "update", check=0)
    assert v.json("key", "show", "v/ec")["ops"] == ["verify"]
    v.cmd("key", "set", "v/ec", "--ops", "all", token=bob, check=0)
    assert v.json("key", "show", "v/ec")["ops"] == ["sign", "verify"]
    # an import key is never turned into a working key
    v.cmd("key", "set", "v/imp", "--ops", "all", token=bob, check=EX_DATAERR)
    assert v.json("key", "show", "v/imp")["ops"] == ["import"]
    # and without update nothing changes
    v.cmd("key", "set", "v/ec", "--ops", "verify", check=0)
    v.cmd("vault", "revoke", "v", "bob", "--perms", "update", check=0)
    v.cmd("key", "set", "v/ec", "--ops", "all", token=bob, check=EX_NOPERM)
    assert v.json("key", "show", "v/ec")["ops"] == ["verify"]


def test_whole_key_verbs_refuse_a_version(v, tmp_path):
    """set, versions, rotate, backup, delete, recover and purge act on the
    whole key: a /VERSION is a usage error, never silently dropped."""
    v.cmd("vault", "create", "v", check=0)
    v.cmd("vault", "grant", "v", "admin", "--perms", "all", check=0)
    v.cmd("key", "create", "v/k", "--kty", "aes-256", check=0)

    def state():
        return (v.json("key", "show", "v/k"), v.json("key", "versions", "v/k"),
                v.json("key", "list", "v"), v.json("key", "list", "v", "--deleted"))

    def refused(*args):
        p = v.cmd("key", args[0], "v/k/1", *args[1:], check=EX_USAGE)
        assert f"key {args[0]} takes VAULT/KEY, not a version".encode() in p.stderr

    before = state()
    blob = tmp_path / "k.backup"
    refused("set", "--disable")
    refused("set", "--ops", "all")
    refused("versions")
    refused("rotate")
    refused("backup", "--out", blob)
    refused("delete")
    assert state() == before
    assert not blob.exists()
    v.cmd("key", "delete", "v/k", check=0)
    deleted = v.json("key", "list", "v", "--deleted")
    refused("recover")
    refused("purge")
    assert v.json("key", "list", "v", "--deleted") == deleted
    v.cmd("key", "recover", "v/k", check=0)  # not purged
    assert v.json("key", "versions", "v/k") == before[1]
    assert v.audit().returncode == 0


def test_delete_recover_purge_backup_restore(v, tmp_path):
    v.cmd("vault", "create", "v", check=0)
    v.cmd("vault", "create", "pp", "--purge-protection", check=0)
    for name in ("v", "pp"):
        v.cmd("vault", "grant", name, "admin", "--perms", "all", check=0)
        v.cmd("key", "create", f"{name}/k", "--kty", "ed25519", check=0)
    blob = tmp_path / "k.backup"
    v.cmd("key", "backup", "v/k", "--out", blob, check=0)
    sig = v.cmd("key", "sign", "v/k", stdin=b"m", check=0).stdout
    v.cmd("key", "purge", "v/k", check=EX_UNAVAILABLE)  # not deleted
    v.cmd("key", "delete", "v/k", check=0)
    v.cmd("key", "sign", "v/k", stdin=b"m", check=EX_NOINPUT)
    assert [k["name"] for k in v.json("key", "list", "v", "--deleted")] == ["k"]
    v.cmd("key", "recover", "v/k", check=0)
    v.cmd("key", "delete", "v/k", check=0)
    v.cmd("key", "purge", "v/k", check=0)
    v.cmd("key", "recover", "v/k", check=EX_NOINPUT)
    # purge protection holds the deleted key for its retention
    v.cmd("key", "delete", "pp/k", check=0)
    p = v.cmd("key", "purge", "pp/k")
    assert p.returncode == EX_NOPERM
    v.cmd("vault", "update", "pp", check=EX_USAGE)  # nothing to change
    assert v.json("vault", "show", "pp")["purge_protection"] is True
    # restore the purged key from its backup; its signature verifies
    v.cmd("key", "restore", "v", "--in", blob, check=0)
    v.cmd("key", "restore", "v", "--in", blob, check=EX_CANTCREAT)
    sigf = tmp_path / "sig"
    sigf.write_bytes(sig)
    v.cmd("key", "verify", "v/k", "--sig", sigf, stdin=b"m", check=0)
    damaged = tmp_path / "bad.backup"
    b = bytearray(blob.read_bytes())
    b[len(b) // 2] ^= 1
    damaged.write_bytes(bytes(b))
    v.cmd("key", "delete", "v/k", check=0)
    v.cmd("key", "purge", "v/k", check=0)
    v.cmd("key", "restore", "v", "--in", damaged, check=EX_NOPERM)
    assert v.json("key", "list", "v") == []
    assert v.audit().returncode == 0


def test_import_pem_and_jwk(v, tmp_path):
    v.cmd("vault", "create", "v", check=0)
    v.cmd("vault", "grant", "v", "admin", "--perms", "all", check=0)
    pem = tmp_path / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-384", "-out", pem], check=True, capture_output=True)
    assert v.json("key", "import", "v/p384", "--pem", pem)["kty"] == "ec-p384"
    pub = subprocess.run(["openssl", "pkey", "-in", pem, "-pubout"], check=True,
                         capture_output=True).stdout
    assert v.cmd("key", "show", "v/p384", "--pem", check=0).stdout == pub
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    v.cmd("key", "import", "v/bad", "--pem", bad, check=EX_DATAERR)
    jwk = tmp_path / "k.jwk"
    jwk.write_text(json.dumps({"kty": "oct", "k": "GawgguFyGrWKav7AX4VKUg-oS5Ynm3JlkNkVCVyW6dY"}))
    assert v.json("key", "import", "v/mac", "--jwk", jwk, "--kty", "hmac-sha256")["kty"] == "hmac-sha256"
    v.cmd("key", "import", "v/bad2", "--jwk", pem, check=EX_DATAERR)
    assert sorted(k["name"] for k in v.json("key", "list", "v")) == ["mac", "p384"]


def test_passphrase_store(rampart_bin, tmp_path):
    data = tmp_path / "pdata"
    pw = tmp_path / "pw"
    pw.write_text("a long and winding passphrase\n")
    env = dict(os.environ, RAMPART_DATA=str(data))
    p = subprocess.run([rampart_bin, "init", "--data", data, "--passphrase",
                        "--passphrase-file", pw, "--json"], capture_output=True, env=env)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["unseal"] == "passphrase"
    assert not (data / "vault" / "master.key").exists()
    env["RAMPART_TOKEN"] = out["token"]
    ok = subprocess.run([rampart_bin, "vault", "list", "--passphrase-file", pw],
                        capture_output=True, env=env)
    assert ok.returncode == 0, ok.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    bad = subprocess.run([rampart_bin, "vault", "list", "--passphrase-file", wrong],
                         capture_output=True, env=env)
    assert bad.returncode == EX_NOPERM
    assert b"passphrase" not in bad.stderr.lower() or b"not the" not in bad.stderr


def test_audit_tail_follow(v):
    env = dict(os.environ, RAMPART_DATA=str(v.data), RAMPART_TOKEN=v.admin)
    proc = subprocess.Popen([str(v.binary), "audit", "tail", "-n", "1", "-f", "--json",
                             "--interval-ms", "100"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(0.5)
        v.cmd("vault", "create", "followed", check=0)
        deadline = time.time() + 10
        seen = b""
        os.set_blocking(proc.stdout.fileno(), False)
        while time.time() < deadline and b"vault.create" not in seen:
            chunk = proc.stdout.read()
            if chunk:
                seen += chunk
            time.sleep(0.05)
        assert b"vault.create" in seen and b"followed" in seen
        assert b"audit.read" not in seen
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


# ---- tampering with the SQLite file ------------------------------------

def edit(v, *statements):
    with sqlite3.connect(v.db) as db:
        for s in statements:
            db.execute(s)
    db.close()


def keyed_store(v):
    v.cmd("vault", "create", "v", check=0)
    v.cmd("vault", "grant", "v", "admin", "--perms", "all", check=0)
    v.cmd("key", "create", "v/a", "--kty", "aes-256", check=0)
    v.cmd("key", "create", "v/b", "--kty", "aes-256", check=0)
    assert v.audit().returncode == 0


def test_tamper_flip_wrapped_key_byte(v):
    keyed_store(v)
    with sqlite3.connect(v.db) as db:
        (blob,) = db.execute("SELECT material FROM versions WHERE key_id ="
                             " (SELECT id FROM keys WHERE name = 'a')").fetchone()
        b = bytearray(blob)
        b[30] ^= 0x01
        db.execute("UPDATE versions SET material = ? WHERE key_id ="
                   " (SELECT id FROM keys WHERE name = 'a')", (bytes(b),))
    p = v.cmd("key", "wrap", "v/a", stdin=b"x" * 16)
    assert p.returncode == 70 and b"integrity" in p.stderr
    # the other key is untouched and works (key material is covered by
    # its row MAC, not by the sealed state)
    v.cmd("key", "wrap", "v/b", stdin=b"x" * 16, check=0)


def test_tamper_move_row_to_other_key(v):
    keyed_store(v)
    edit(v, "DELETE FROM versions WHERE key_id = (SELECT id FROM keys WHERE name = 'a')",
         "UPDATE versions SET key_id = (SELECT id FROM keys WHERE name = 'a')"
         " WHERE key_id = (SELECT id FROM keys WHERE name = 'b')")
    p = v.cmd("key", "wrap", "v/a", stdin=b"x" * 16)
    assert p.returncode == 70 and b"integrity" in p.stderr


def test_tamper_grant_yourself(v):
    keyed_store(v)
    bob = v.principal("bob")
    edit(v, "INSERT INTO grants SELECT id, 0, (SELECT id FROM principals WHERE name='bob'),"
            " 131071, zeroblob(32) FROM vaults WHERE name = 'v'")
    assert v.cmd("key", "wrap", "v/a", token=bob, stdin=b"x" * 16).returncode == 70


def audit_problem(v):
    p = v.audit()
    assert p.returncode == EX_CHECK, p.stdout
    rep = json.loads(p.stdout)
    assert rep["ok"] is False
    return rep


def test_tamper_audit_delete_row(v):
    keyed_store(v)
    edit(v, "DELETE FROM audit WHERE seq = 3")
    rep = audit_problem(v)
    assert rep["first_bad_seq"] == 3 and "missing" in rep["problem"]
    p = v.cmd("audit", "verify")
    assert p.returncode == EX_CHECK and b"record 3" in p.stdout + p.stderr


def test_tamper_audit_reorder(v):
    keyed_store(v)
    edit(v, "UPDATE audit SET seq = -4 WHERE seq = 4",
         "UPDATE audit SET seq = 4 WHERE seq = 5",
         "UPDATE audit SET seq = 5 WHERE seq = -4")
    assert audit_problem(v)["first_bad_seq"] == 4


def test_tamper_audit_modify(v):
    keyed_store(v)
    edit(v, "UPDATE audit SET principal = 'someone-else' WHERE seq = 2")
    assert audit_problem(v)["first_bad_seq"] == 2


def test_tamper_audit_truncate_blocks_everything(v):
    keyed_store(v)
    edit(v, "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
    audit_problem(v)
    # no further call can seal over the gap
    assert v.cmd("vault", "list").returncode == 70
    audit_problem(v)
