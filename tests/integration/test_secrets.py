# SPDX-License-Identifier: Apache-2.0
"""No output, log line or error message ever contains key material.

A full scenario runs through the CLI and every command's stdout and stderr
is kept (Store.log). Afterwards the secrets are gathered by other means:

  - key material whose value the test chose: PEM files from openssl genpkey
    (rsa, ec, ed25519), oct JWKs (aes-256, hmac-sha256), private EC and OKP
    JWKs, and BYOK blobs (with their ephemeral AES keys);
  - everything the store holds, read from DIR/vault as docs/FORMAT.md
    describes (vaultutil.StoreSecrets): the material of every version of
    every key, created inside the vault or rotated there too, the master
    key, its key file, the derived subkeys and the audit signing key;
  - the administrator's token and a second principal's token.

Each secret is looked for as raw bytes, hex (both cases), base64 and
base64url (at every alignment, across line breaks), and for private keys
also as the PKCS#8 DER and each private number (scalar, seed, RSA d, p, q,
...). It must not occur in any command's stdout or stderr, in any file the
CLI wrote, or in clear in the SQLite files. The only exceptions are made
explicitly below: a token in the one output that creates it, and the
result of an unwrap or decrypt in the stdout (or --out file) of exactly
the command that asked for it.
"""
import base64
import json
import os
import sqlite3
import subprocess

from vaultutil import (EX_CANTCREAT, EX_CHECK_FAILED, EX_DATAERR, EX_NOINPUT,
                       EX_NOPERM, EX_NOUSER, EX_OK, EX_SOFTWARE, KTYS,
                       LeakFinder, Store, StoreSecrets, aead_seal_box, b64url,
                       genpkey, openssl, private_components, secret_forms)

def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Leaks:
    """What a scenario may legitimately show, and the final check."""

    def __init__(self, store, out_dir):
        self.store = store
        self.out_dir = out_dir
        self.stdout_exempt = {}   # id(Result) -> set of secret bytes
        self.file_exempt = {}     # file path -> set of secret bytes
        self.snapshots = []
        # A token is shown once, by the command that creates it.
        self.allow_stdout(store.init_result, store.token.encode())

    # An allowed secret also allows what it contains (the private numbers
    # inside an allowed PKCS#8 key), see LeakFinder.find.
    def allow_stdout(self, res, secret):
        self.stdout_exempt.setdefault(id(res), set()).add(bytes(secret))

    def allow_file(self, path, secret):
        self.file_exempt.setdefault(str(path), set()).add(bytes(secret))

    def snapshot(self):
        """Read the store's secrets now (keys purged later are gone)."""
        self.snapshots.append(StoreSecrets(self.store.vault_dir))

    def store_secrets(self):
        secrets = {}
        for snap in self.snapshots:
            secrets["store:master.key"] = snap.kek
            secrets["store:mk"] = snap.mk
            for info, key in snap.subkeys.items():
                secrets[f"store:subkey:{info}"] = key
            secrets.update(secret_forms("store:audit-key", snap.audit_key,
                                        "ec-p256"))
            for (v, k, n), (kty, m) in snap.materials.items():
                secrets.update(secret_forms(f"material:{v}/{k}/{n}", m, kty))
        return secrets

    def check(self, secrets):
        """No secret, nor any piece of one, anywhere it must not be."""
        # Tokens: any 12 characters of one. A PKCS#8 key holds its public
        # part too: whole only (its private numbers are searched in parts).
        # The "near" token shares all but one character with the admin's.
        finder = LeakFinder(
            secrets,
            text={k for k in secrets if k in ("token:admin", "token:bob")},
            whole={k for k in secrets
                   if k.endswith(":pkcs8") or k == "token:near-admin"})
        failures = []
        for res in self.store.log:
            cmd = " ".join(map(str, res.args))
            allowed = self.stdout_exempt.get(id(res), ())
            for label in finder.find(res.out, allowed):
                failures.append(f"stdout of `rampart {cmd}`: {label}")
            for label in finder.find(res.err):
                failures.append(f"stderr of `rampart {cmd}`: {label}")
            # Not on the command line either (tests pass tokens in the
            # environment and data in files or stdin).
            for label in finder.find(cmd.encode()):
                failures.append(f"command line `rampart {cmd}`: {label}")
        for path in sorted(self.out_dir.iterdir()):
            allowed = self.file_exempt.get(str(path), ())
            for label in finder.find(path.read_bytes(), allowed):
                failures.append(f"file {path.name}: {label}")
        for f in sorted(self.store.vault_dir.iterdir()):
            if f.name == "master.key":
                continue
            for label in finder.find(f.read_bytes()):
                failures.append(f"{f.name} in clear: {label}")
        assert not failures, "\n".join(failures)
        return finder


def pem_key(d, kty):
    """A private key PEM from openssl, and its PKCS#8 DER."""
    pem = genpkey(kty, d / f"{kty}.pem")
    der = openssl("pkey", "-in", pem, "-outform", "DER").stdout
    return pem, der


def test_no_key_material_in_any_output(rampart_bin, tmp_path):
    s = Store(rampart_bin, tmp_path)
    inp = tmp_path / "in"    # what the test feeds in (holds secrets)
    out = tmp_path / "out"   # every file the CLI writes
    inp.mkdir()
    out.mkdir()
    leaks = Leaks(s, out)
    known = {}               # label -> (material, kty), chosen by the test

    # ---- principals, groups, vault ------------------------------------
    bob_token, bob_res = s.make_principal("bob")
    leaks.allow_stdout(bob_res, bob_token.encode())  # shown once, here
    s.run("group", "create", "ops", check=EX_OK)
    s.run("group", "add", "ops", "bob", check=EX_OK)
    s.make_vault("sec", retention_days=7)
    s.grant("sec", "group:ops", "get,list,sign,verify")

    # ---- keys made inside the vault: every type ------------------------
    for kty in KTYS:
        s.make_key(f"sec/c-{kty}", kty)

    # ---- keys whose material the test knows ----------------------------
    ders = {}
    for kty in ("rsa-2048", "ec-p256", "ec-p384", "ed25519"):
        pem, der = pem_key(inp, kty)
        ders[kty] = der
        known[f"pem:{kty}"] = (der, kty)
        k = s.import_key(f"sec/p-{kty}", "pem", pem).json()
        assert k["kty"] == kty
    # A traditional ("BEGIN EC PRIVATE KEY") PEM as well.
    (inp / "trad").mkdir()
    trad_pem, trad_der = pem_key(inp / "trad", "ec-p256")
    trad = inp / "trad.pem"
    trad.write_bytes(openssl("pkey", "-in", trad_pem, "-traditional").stdout)
    assert b"BEGIN EC PRIVATE KEY" in trad.read_bytes()
    known["pem:traditional"] = (trad_der, "ec-p256")
    s.import_key("sec/p-trad", "pem", trad)

    aes, mac = os.urandom(32), os.urandom(48)
    for name, kty, secret in (("j-aes-256", "aes-256", aes),
                              ("j-hmac-sha256", "hmac-sha256", mac)):
        jwk = inp / f"{name}.jwk"
        jwk.write_text(json.dumps({"kty": "oct", "k": b64url(secret)}))
        known[f"jwk:{kty}"] = (secret, kty)
        s.import_key(f"sec/{name}", "jwk", jwk, kty=kty)

    # Private EC and OKP JWKs, built from fresh openssl keys.
    for kty in ("ec-p256", "ed25519"):
        d = inp / f"jwk-{kty}"
        d.mkdir()
        pem, der = pem_key(d, kty)
        s.import_key(f"sec/tmp-{kty}", "pem", pem)
        pub = s.json("key", "show", f"sec/tmp-{kty}")["jwk"]
        priv = private_components(der)["priv"]
        jwk = dict(pub, d=b64url(priv.rjust(32, b"\0")))
        (d / "key.jwk").write_text(json.dumps(jwk))
        k = s.import_key(f"sec/jwk-{kty}", "jwk", d / "key.jwk").json()
        assert k["kty"] == kty and k["jwk"] == pub
        known[f"jwk:{kty}"] = (der, kty)

    leaks.snapshot()

    # ---- using them -----------------------------------------------------
    for name, kty in [(f"c-{t}", t) for t in KTYS] + [
            ("p-rsa-2048", "rsa-2048"), ("p-ec-p256", "ec-p256"),
            ("p-ec-p384", "ec-p384"), ("p-ed25519", "ed25519"),
            ("p-trad", "ec-p256"), ("j-aes-256", "aes-256"),
            ("j-hmac-sha256", "hmac-sha256"), ("jwk-ec-p256", "ec-p256"),
            ("jwk-ed25519", "ed25519")]:
        s.check_usable(f"sec/{name}", kty)
        if kty not in ("aes-256",) and not kty.startswith("rsa"):
            sig = s.run("key", "sign", f"sec/{name}", "--json",
                        input=b"m", check=EX_OK).json()
            assert sig["kid"].startswith(f"sec/{name}/")

    # Wrapping a secret: the unwrap that asks for it gets it back. These
    # are the only outputs allowed to hold key material: the stdout (or
    # --out file) of that exact unwrap/decrypt command, nothing else.
    wrapped = s.run("key", "wrap", "sec/c-aes-256", input=mac,
                    check=EX_OK).out
    (out / "mac.wrapped").write_bytes(wrapped)
    res = s.run("key", "unwrap", "sec/c-aes-256", input=wrapped,
                check=EX_OK)
    assert res.out == mac
    leaks.allow_stdout(res, mac)           # exception: unwrap result
    res_json = s.run("key", "unwrap", "sec/c-aes-256", "--json",
                     "--in", out / "mac.wrapped", check=EX_OK)
    assert unb64url(res_json.json()["value"]) == mac
    leaks.allow_stdout(res_json, mac)      # exception: unwrap result
    s.run("key", "unwrap", "sec/c-aes-256", "--in", out / "mac.wrapped",
          "--out", out / "mac.unwrapped", check=EX_OK)
    assert (out / "mac.unwrapped").read_bytes() == mac
    leaks.allow_file(out / "mac.unwrapped", mac)  # exception: its --out
    for alg in ("A256KW", "A256KWP"):
        w = s.run("key", "wrap", "sec/j-aes-256", "--alg", alg, input=aes,
                  check=EX_OK).out
        res = s.run("key", "unwrap", "sec/j-aes-256", "--alg", alg,
                    input=w, check=EX_OK)
        assert res.out == aes
        leaks.allow_stdout(res, aes)       # exception: unwrap result
    rsa_w = s.run("key", "wrap", "sec/p-rsa-2048", input=aes,
                  check=EX_OK).out
    res = s.run("key", "unwrap", "sec/p-rsa-2048", input=rsa_w, check=EX_OK)
    assert res.out == aes
    leaks.allow_stdout(res, aes)           # exception: unwrap result
    for ref in ("sec/c-aes-256", "sec/c-rsa-3072"):
        box = s.run("key", "encrypt", ref, "--out", out / "box",
                    input=ders["ec-p256"], check=EX_OK)
        assert box.out == b""
        res = s.run("key", "decrypt", ref, "--in", out / "box", check=EX_OK)
        assert res.out == ders["ec-p256"]
        leaks.allow_stdout(res, ders["ec-p256"])  # exception: decrypt
    # Signatures to files, checked.
    s.run("key", "sign", "sec/p-ec-p384", "--in", inp / "trad.pem",
          "--out", out / "p384.sig", check=EX_OK)
    s.run("key", "verify", "sec/p-ec-p384", "--in", inp / "trad.pem",
          "--sig", out / "p384.sig", check=EX_OK)

    # ---- rotation: new material, old versions still open ---------------
    for name in ("c-aes-256", "c-ec-p256", "c-hmac-sha256", "c-ed25519",
                 "j-aes-256", "p-ec-p256"):
        k = s.json("key", "rotate", f"sec/{name}")
        assert k["version"] == 2
    old = s.run("key", "wrap", "sec/j-aes-256/1", input=b"k" * 32,
                check=EX_OK).out
    res = s.run("key", "unwrap", "sec/j-aes-256/1", input=old, check=EX_OK)
    assert res.out == b"k" * 32
    s.check_usable("sec/c-ec-p256/1", "ec-p256")
    s.check_usable("sec/c-ec-p256", "ec-p256")
    leaks.snapshot()

    # ---- backup, delete, purge, restore; delete and recover ------------
    s.run("key", "backup", "sec/j-hmac-sha256", "--out", out / "hmac.bak",
          check=EX_OK)
    bak = s.run("key", "backup", "sec/p-ed25519", "--json", check=EX_OK)
    blob = unb64url(bak.json()["value"])
    assert blob[:4] == b"RPKB"
    (out / "ed.bak").write_bytes(blob)
    for name, backup in (("j-hmac-sha256", "hmac.bak"),
                         ("p-ed25519", "ed.bak")):
        s.run("key", "delete", f"sec/{name}", check=EX_OK)
        assert name in s.key_names("sec", deleted=True)
        s.run("key", "purge", f"sec/{name}", check=EX_OK)
        s.run("key", "show", f"sec/{name}", check=EX_NOINPUT)
        k = s.run("key", "restore", "sec", "--in", out / backup, "--json",
                  check=EX_OK).json()
        assert k["name"] == name
    s.check_usable("sec/j-hmac-sha256", "hmac-sha256")
    s.check_usable("sec/p-ed25519", "ed25519")
    s.run("key", "delete", "sec/c-ed25519", check=EX_OK)
    s.run("key", "list", "sec", "--deleted", check=EX_OK)
    s.run("key", "list", "sec", "--deleted", "--json", check=EX_OK)
    s.run("key", "recover", "sec/c-ed25519", check=EX_OK)
    s.check_usable("sec/c-ed25519", "ed25519")
    s.run("key", "delete", "sec/tmp-ec-p256", check=EX_OK)
    s.run("key", "purge", "sec/tmp-ec-p256", check=EX_OK)

    # ---- failures: their messages must not carry material ---------------
    garbage = os.urandom(40)
    res = s.run("key", "unwrap", "sec/c-aes-256", input=garbage)
    assert res.returncode == EX_NOPERM and res.out == b"", res.stderr
    res = s.run("key", "unwrap", "sec/c-rsa-2048", input=garbage)
    assert res.returncode == EX_NOPERM and res.out == b"", res.stderr
    res = s.run("key", "decrypt", "sec/c-aes-256", input=garbage + garbage)
    assert res.returncode == EX_NOPERM and res.out == b"", res.stderr
    # The right ciphertext under the wrong key.
    res = s.run("key", "unwrap", "sec/j-aes-256", input=wrapped)
    assert res.returncode == EX_NOPERM and res.out == b"", res.stderr
    res = s.run("key", "verify", "sec/c-ec-p256", "--sig", out / "p384.sig",
                "--in", inp / "trad.pem")
    assert res.returncode == EX_CHECK_FAILED, res.stderr
    res = s.run("key", "wrap", "sec/c-hmac-sha256", input=aes)
    assert res.returncode == EX_DATAERR, res.stderr
    # Imports that fail, with secret input.
    pem_p256 = inp / "ec-p256.pem"
    res = s.run("key", "import", "sec/x1", "--pem", pem_p256, "--kty",
                "ec-p384")
    assert res.returncode == EX_DATAERR, res.stderr
    res = s.run("key", "import", "sec/p-ec-p256", "--pem", pem_p256)
    assert res.returncode == EX_CANTCREAT, res.stderr
    broken = inp / "broken.pem"
    lines = pem_p256.read_text().splitlines()
    broken.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    res = s.run("key", "import", "sec/x2", "--pem", broken)
    assert res.returncode == EX_DATAERR, res.stderr
    short = inp / "short.jwk"
    short.write_text(json.dumps({"kty": "oct", "k": b64url(aes[:16])}))
    res = s.run("key", "import", "sec/x3", "--jwk", short, "--kty",
                "aes-256")
    assert res.returncode == EX_DATAERR, res.stderr
    res = s.run("key", "import", "sec/x4", "--jwk",
                inp / "j-aes-256.jwk", "--kty", "ec-p256")
    assert res.returncode == EX_DATAERR, res.stderr
    # Malformed JSON around a secret (a parser error could quote it).
    for i, text in enumerate((f'{{"kty":"oct","k":"{b64url(aes)}"',
                              f'{{"kty":"oct","k":{aes.hex()}}}',
                              f'{{"kty":"EC","crv":"P-256",'
                              f'"d":"{b64url(aes)}"}}',
                              aes.hex())):
        bad = inp / f"bad{i}.jwk"
        bad.write_text(text)
        for kty in (("--kty", "aes-256"), ()):
            res = s.run("key", "import", f"sec/y{i}", "--jwk", bad, *kty)
            assert res.returncode == EX_DATAERR, res.stderr
    assert not {"x1", "x2", "x3", "x4", "y0", "y1", "y2", "y3"} & \
        set(s.key_names("sec"))

    # ---- a second principal: allowed and denied calls -------------------
    me = s.json("principal", "whoami", token=bob_token)
    assert me["name"] == "bob" and me["admin"] is False
    s.run("key", "show", "sec/c-ec-p256", "--json", token=bob_token,
          check=EX_OK)
    s.run("key", "sign", "sec/c-ec-p256", input=b"bob", token=bob_token,
          check=EX_OK)
    for args in (("key", "unwrap", "sec/c-aes-256"),
                 ("key", "decrypt", "sec/c-aes-256"),
                 ("key", "backup", "sec/c-aes-256"),
                 ("key", "create", "sec/bobkey", "--kty", "aes-256"),
                 ("key", "import", "sec/bobkey", "--pem", pem_p256),
                 ("audit", "tail", "-n", "5"),
                 ("principal", "create", "eve"),
                 ("vault", "grant", "sec", "bob", "--perms", "all")):
        res = s.run(*args, input=wrapped, token=bob_token)
        assert res.returncode == EX_NOPERM, (args, res.stderr)
        assert res.out == b"", args
    # Unknown tokens, one differing from the admin's in its last
    # character: refused, and never echoed.
    near = s.token[:-1] + ("A" if s.token[-1] != "A" else "B")
    for tok in (near, "rpt_" + "x" * 43, "not-a-token"):
        res = s.run("key", "list", "sec", token=tok)
        assert res.returncode == EX_NOUSER, res.stderr
    res = s.run("key", "list", "sec", token="")
    assert res.returncode == EX_NOUSER, res.stderr
    tfile = inp / "near.token"
    tfile.write_text(near + "\n")
    res = s.run("key", "show", "sec/c-aes-256", "--token-file", tfile,
                token="")
    assert res.returncode == EX_NOUSER, res.stderr

    # ---- everything there is to show -------------------------------------
    names = s.key_names("sec")
    for name in names:
        k = s.json("key", "show", f"sec/{name}")
        assert "d" not in k.get("jwk", {}), k
        s.run("key", "show", f"sec/{name}", check=EX_OK)
        s.run("key", "versions", f"sec/{name}", "--json", check=EX_OK)
        if "pem" in k:
            s.run("key", "show", f"sec/{name}", "--pem", check=EX_OK)
    s.run("key", "list", "sec", check=EX_OK)
    s.run("key", "list", "sec", "--json", check=EX_OK)
    s.json("vault", "show", "sec")
    s.run("vault", "show", "sec", check=EX_OK)
    s.run("vault", "list", check=EX_OK)
    s.run("principal", "list", "--json", check=EX_OK)
    s.run("group", "list", check=EX_OK)
    s.json("vault", "maintain")
    s.run("audit", "tail", check=EX_OK)
    s.run("audit", "tail", "-n", "50", check=EX_OK)
    assert s.json("audit", "verify")["ok"] is True
    s.run("audit", "verify", check=EX_OK)
    # The whole audit log.
    log = s.run("audit", "tail", "-n", "100000", "--json", check=EX_OK)
    recs = [json.loads(line) for line in log.stdout.splitlines()]
    assert recs[0]["seq"] == 1 and recs[0]["op"] == "store.init"
    ops = {(r["principal"], r["op"], r["outcome"]) for r in recs}
    assert ("bob", "key.unwrap", "denied") in ops
    assert ("bob", "key.sign", "ok") in ops
    assert any(r["op"] == "key.unwrap" and r["principal"] == "admin" and
               r["outcome"].startswith("error") for r in recs), ops
    assert any(r["op"] == "key.import" and r["outcome"] != "ok"
               for r in recs)

    # ---- gather the secrets and look for them -----------------------------
    leaks.snapshot()
    secrets = leaks.store_secrets()
    for label, (material, kty) in known.items():
        secrets.update(secret_forms(f"known:{label}", material, kty))
    secrets["token:admin"] = s.token.encode()
    secrets["token:bob"] = bob_token.encode()
    secrets["token:near-admin"] = near.encode()

    # The store holds what was imported (the reading above is right).
    mats = {}
    for snap in leaks.snapshots:
        mats.update(snap.materials)
    assert mats[("sec", "j-aes-256", 1)] == ("aes-256", aes)
    assert mats[("sec", "j-hmac-sha256", 1)] == ("hmac-sha256", mac)
    for kty, der in ders.items():
        stored_kty, stored = mats[("sec", f"p-{kty}", 1)]
        assert stored_kty == kty
        assert private_components(stored) == private_components(der)
    # Keys created inside the vault, every version, were found too.
    for kty in KTYS:
        assert ("sec", f"c-{kty}", 1) in mats
    assert ("sec", "c-ec-p256", 2) in mats
    assert ("sec", "tmp-ec-p256", 1) in mats  # purged, seen before

    finder = leaks.check(secrets)
    # Positive controls: the search does find what is there.
    assert "token:admin" in finder.find(s.init_result.out)
    assert "token:bob" in finder.find(bob_res.out)
    assert "known:jwk:hmac-sha256" in finder.find(res_json.out)
    assert "known:jwk:hmac-sha256" in finder.find(
        (out / "mac.unwrapped").read_bytes())


def test_byok_leaks_nothing(rampart_bin, tmp_path):
    """BYOK: neither the imported material nor the ephemeral keys show."""
    s = Store(rampart_bin, tmp_path)
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    out.mkdir()
    leaks = Leaks(s, out)
    s.make_vault("byok")
    s.run("key", "create", "byok/import", "--kty", "rsa-2048", "--ops",
          "import", check=EX_OK)
    (inp / "import.pem").write_bytes(
        s.run("key", "show", "byok/import", "--pem", check=EX_OK).out)
    secrets = {}

    def wrap_for_vault(label, target):
        eph = os.urandom(32)
        secrets[f"ephemeral:{label}"] = eph
        (inp / "eph.bin").write_bytes(eph)
        (inp / "target.bin").write_bytes(target)
        p1 = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey",
                     inp / "import.pem", "-pkeyopt", "rsa_padding_mode:oaep",
                     "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt",
                     "rsa_mgf1_md:sha256", "-in", inp / "eph.bin").stdout
        p2 = openssl("enc", "-id-aes256-wrap-pad", "-iv", "A65959A6",
                     "-K", eph.hex(), "-in", inp / "target.bin").stdout
        path = inp / f"{label}.byok"
        path.write_bytes(p1 + p2)
        return path

    aes, mac = os.urandom(32), os.urandom(64)
    _, ec_der = pem_key(inp, "ec-p256")
    for label, kty, material in (("aes", "aes-256", aes),
                                 ("mac", "hmac-sha256", mac),
                                 ("ec", "ec-p256", ec_der)):
        secrets.update(secret_forms(f"known:{label}", material, kty))
        blob = wrap_for_vault(label, material)
        s.run("key", "import", f"byok/{label}", "--byok", blob, "--kek",
              "byok/import", "--kty", kty, "--json", check=EX_OK)
        # Failing imports of the same material: wrong type, damaged blob.
        wrong = "ec-p384" if kty == "ec-p256" else "ed25519"
        res = s.run("key", "import", f"byok/{label}-x", "--byok", blob,
                    "--kek", "byok/import", "--kty", wrong)
        assert res.returncode == EX_DATAERR, res.stderr
        data = bytearray(blob.read_bytes())
        data[-3] ^= 0x80
        bad = inp / f"{label}.bad"
        bad.write_bytes(bytes(data))
        res = s.run("key", "import", f"byok/{label}-y", "--byok", bad,
                    "--kek", "byok/import", "--kty", kty)
        assert res.returncode == EX_NOPERM, res.stderr
        s.check_usable(f"byok/{label}", kty)
        s.json("key", "show", f"byok/{label}")
    # An import key refuses to unwrap, even the blob's first part.
    blob = (inp / "aes.byok").read_bytes()
    (inp / "part1").write_bytes(blob[:256])
    res = s.run("key", "unwrap", "byok/import", "--in", inp / "part1")
    assert res.returncode == EX_NOPERM and res.out == b""
    s.run("key", "list", "byok", "--json", check=EX_OK)
    s.json("vault", "show", "byok")
    s.run("audit", "tail", "-n", "100000", "--json", check=EX_OK)
    assert s.json("audit", "verify")["ok"] is True

    leaks.snapshot()
    mats = leaks.snapshots[-1].materials
    assert mats[("byok", "aes", 1)] == ("aes-256", aes)
    assert mats[("byok", "mac", 1)] == ("hmac-sha256", mac)
    assert private_components(mats[("byok", "ec", 1)][1]) == \
        private_components(ec_der)
    secrets.update(leaks.store_secrets())
    secrets["token:admin"] = s.token.encode()
    leaks.check(secrets)


def test_refused_arguments_are_not_echoed(rampart_bin, tmp_path):
    """A token put where none is taken (--token=... on init or before the
    command, a bare token as an operand) is refused without showing it:
    usage errors end up in logs."""
    secret = "rpt_" + "S3cretTok3nValueThatMustNotBeShown0123456789"
    cases = [
        ["init", "--data", str(tmp_path / "d"), f"--token={secret}"],
        [f"--token={secret}", "key", "list", "v1"],
        ["key", "list", "v1", f"--tokn={secret}"],
        [secret, "key"],
        ["key", secret],
        ["vault", "list", "extra", secret],
        ["selftest", f"--x={secret}"],
        ["selftest", secret],
    ]
    for args in cases:
        res = subprocess.run([str(rampart_bin)] + args, capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 64, (args, res.returncode, res.stderr)
        assert "S3cretTok3n" not in res.stderr + res.stdout, (args, res.stderr)


def test_schema_1_seal_put_back_is_refused(rampart_bin, tmp_path):
    """The master key's seal binds the schema, but the master key stays
    the same: a seal row of schema 1 (here made with the key file, as an
    older copy of the store would hold one) opens. Put back with schema
    1 and a grant since revoked, the store must not upgrade itself again
    and seal that grant: the log says the store was made at schema 2."""
    s = Store(rampart_bin, tmp_path)
    bob_token, _ = s.make_principal("bob")
    s.make_vault("v")
    s.make_key("v/k", "aes-256")
    s.grant("v", "bob", "encrypt")
    db_path = s.vault_dir / "store.db"
    db = sqlite3.connect(db_path)
    old_grants = db.execute("SELECT * FROM grants").fetchall()
    db.close()
    s.run("vault", "revoke", "v", "bob", "--perms", "encrypt", check=EX_OK)
    secrets = StoreSecrets(s.vault_dir)
    aad_v1 = b"rampart-seal-v1\0" + secrets.store_id + b"keyfile"
    db = sqlite3.connect(db_path)
    db.execute("UPDATE seal SET wrapped = ? WHERE id = 1",
               (aead_seal_box(secrets.kek, secrets.mk, aad_v1),))
    db.execute("UPDATE meta SET value = ? WHERE name = 'schema'",
               ((1).to_bytes(8, "little"),))
    db.executemany("INSERT OR REPLACE INTO grants VALUES (?, ?, ?, ?, ?)",
                   old_grants)
    db.commit()
    db.close()
    for args, token in ((("key", "encrypt", "v/k"), bob_token),
                        (("audit", "verify"), None)):
        res = s.run(*args, token=token, input=b"0123456789abcdef")
        assert res.returncode == EX_SOFTWARE, res
        assert res.out == b"", res
        assert "failed its integrity check" in res.stderr, res


def test_planted_trigger_does_not_run(rampart_bin, tmp_path):
    """A trigger put into store.db by someone who can write the file would
    run inside rampart's own write transaction, after its checks and before
    its seal: an "undo" trigger on grants would make a revocation a no-op,
    sealed. No trigger of the file runs in rampart at all."""
    s = Store(rampart_bin, tmp_path)
    bob_token, _ = s.make_principal("bob")
    s.make_vault("v")
    s.make_key("v/k", "aes-256")
    s.grant("v", "bob", "encrypt")
    db = sqlite3.connect(s.vault_dir / "store.db")
    db.execute("CREATE TRIGGER keep AFTER DELETE ON grants BEGIN"
               " INSERT INTO grants VALUES(OLD.vault_id, OLD.subject_kind,"
               " OLD.subject_id, OLD.perms, OLD.mac); END")
    db.commit()
    db.close()
    s.run("vault", "revoke", "v", "bob", "--perms", "encrypt", check=EX_OK)
    res = s.run("key", "encrypt", "v/k", token=bob_token,
                input=b"0123456789abcdef")
    assert res.returncode == EX_NOPERM, res
    assert "bob" not in s.run("vault", "show", "v", check=EX_OK).stdout
