# SPDX-License-Identifier: Apache-2.0
"""Bring your own key: the flow of docs/byok.md with the openssl command
line on the key owner's side, and the ways an import must fail.

The vault side runs the rampart commands of docs/byok.md step by step; the
key owner side runs the same openssl commands as the document (the
`od | tr` hex conversion of the ephemeral key is done in Python).
test_doc_runs_verbatim runs the document's shell blocks themselves.
"""
import json
import os
import pathlib
import re
import subprocess

import pytest

from vaultutil import (EX_DATAERR, EX_NOINPUT, EX_NOPERM, EX_OK, Store,
                       StoreSecrets, openssl)

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "byok.md"
KWP_IV = "A65959A6"  # RFC 5649 initial value, as in the document


class Byok:
    """A store with vault "myvault" and its import key "myvault/import"."""

    def __init__(self, store, root):
        self.store = store
        self.root = root
        self.import_pem = root / "import.pem"
        self._n = 0

    def workdir(self):
        """A fresh directory for one key owner session."""
        self._n += 1
        d = self.root / f"owner{self._n}"
        d.mkdir()
        return d

    def wrap(self, target, import_pem=None):
        """Step 2 of docs/byok.md: wrap the file target for the import key.

        Returns (byok.bin path, length of part 1)."""
        d = self.workdir()
        pem = import_pem or self.import_pem
        eph = d / "ephemeral.bin"
        part1, part2, blob = d / "part1.bin", d / "part2.bin", d / "byok.bin"
        openssl("rand", "-out", eph, 32)
        openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem,
                "-pkeyopt", "rsa_padding_mode:oaep",
                "-pkeyopt", "rsa_oaep_md:sha256",
                "-pkeyopt", "rsa_mgf1_md:sha256",
                "-in", eph, "-out", part1)
        openssl("enc", "-id-aes256-wrap-pad", "-iv", KWP_IV,
                "-K", eph.read_bytes().hex(), "-in", target, "-out", part2)
        blob.write_bytes(part1.read_bytes() + part2.read_bytes())
        n1 = part1.stat().st_size
        for f in (eph, part1, part2):
            f.unlink()
        return blob, n1

    def keys(self):
        return self.store.key_names("myvault")

    def last_import_record(self, name):
        """The newest audit record of a key.import of myvault/name."""
        out = self.store.run("audit", "tail", "-n", "20", "--json",
                             check=EX_OK).stdout
        recs = [r for r in map(json.loads, out.splitlines())
                if r.get("op") == "key.import" and r.get("key") == name]
        assert recs, out
        return recs[-1]


@pytest.fixture(scope="module")
def byok(rampart_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("byok")
    store = Store(rampart_bin, root)
    store.make_vault("myvault")
    b = Byok(store, root)
    # Step 1: the vault's import key and its public PEM.
    store.run("key", "create", "myvault/import", "--kty", "rsa-3072",
              "--ops", "import", check=EX_OK)
    pem = store.run("key", "show", "myvault/import", "--pem", check=EX_OK).out
    b.import_pem.write_bytes(pem)
    return b


def test_import_key(byok):
    k = byok.store.json("key", "show", "myvault/import")
    assert k["kty"] == "rsa-3072"
    assert k["ops"] == ["import"]
    assert "d" not in k["jwk"] and "p" not in k["jwk"]
    # import.pem is an RSA-3072 public key openssl can use, and nothing else.
    pem = byok.import_pem.read_text()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n"), pem
    assert pem.count("-----BEGIN") == 1 and "PRIVATE" not in pem
    text = openssl("pkey", "-pubin", "-in", byok.import_pem, "-noout",
                   "-text_pub").stdout.decode()
    assert "Public-Key: (3072 bit)" in text, text
    # The same as the JSON "pem".
    assert k["pem"] == pem


def test_byok_aes_256(byok):
    """(a) An AES-256 key: the vault unwraps what openssl wrapped with it."""
    d = byok.workdir()
    target = d / "target.bin"
    openssl("rand", "-out", target, 32)
    blob, n1 = byok.wrap(target)
    assert n1 == 384  # RSA-3072 modulus
    assert blob.stat().st_size == 384 + 40  # KWP of 32 bytes

    # Step 3.
    res = byok.store.run("key", "import", "myvault/aeskey", "--byok", blob,
                         "--kek", "myvault/import", "--kty", "aes-256",
                         "--json", check=EX_OK)
    k = res.json()
    assert (k["kid"], k["kty"], k["version"]) == ("myvault/aeskey/1",
                                                  "aes-256", 1)
    assert "jwk" not in k and "pem" not in k
    assert target.read_bytes() not in res.out

    # Step 4: data wrapped by openssl with the original key.
    data, wrapped, out = d / "data.bin", d / "data.wrapped", d / "data.out"
    openssl("rand", "-out", data, 48)
    openssl("enc", "-id-aes256-wrap-pad", "-iv", KWP_IV,
            "-K", target.read_bytes().hex(), "-in", data, "-out", wrapped)
    byok.store.run("key", "unwrap", "myvault/aeskey", "--alg", "A256KWP",
                   "--in", wrapped, "--out", out, check=EX_OK)
    assert out.read_bytes() == data.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600

    # And the other way: openssl opens what the vault wrapped.
    vwrapped = byok.store.run("key", "wrap", "myvault/aeskey", "--alg",
                              "A256KWP", "--in", data, check=EX_OK).out
    (d / "v.wrapped").write_bytes(vwrapped)
    plain = openssl("enc", "-d", "-id-aes256-wrap-pad", "-iv", KWP_IV,
                    "-K", target.read_bytes().hex(),
                    "-in", d / "v.wrapped").stdout
    assert plain == data.read_bytes()
    rec = byok.last_import_record("aeskey")
    assert rec["outcome"] == "ok" and rec["detail"] == "format=byok", rec


def test_byok_ec_p256(byok):
    """(b) An EC P-256 private key as PKCS#8 DER from openssl genpkey."""
    d = byok.workdir()
    target = d / "target.bin"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-outform", "DER", "-out", target)
    blob, _ = byok.wrap(target)
    byok.store.run("key", "import", "myvault/eckey", "--byok", blob,
                   "--kek", "myvault/import", "--kty", "ec-p256",
                   check=EX_OK)

    # The public key the vault shows is the original's.
    want = openssl("pkey", "-inform", "DER", "-in", target,
                   "-pubout").stdout
    got = byok.store.run("key", "show", "myvault/eckey", "--pem",
                         check=EX_OK).out
    assert got == want
    pub = d / "pub.pem"
    pub.write_bytes(got)

    # A signature made by the vault verifies with openssl (ECDSA, DER).
    msg, sig = d / "msg", d / "sig"
    msg.write_bytes(b"bring your own key\n" * 3)
    byok.store.run("key", "sign", "myvault/eckey", "--in", msg, "--out", sig,
                   check=EX_OK)
    assert sig.read_bytes()[0] == 0x30  # DER SEQUENCE
    v = openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, msg)
    assert v.stdout.strip() == b"Verified OK"
    # Not for another message.
    msg2 = d / "msg2"
    msg2.write_bytes(b"something else")
    v = openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, msg2,
                check=False)
    assert v.returncode != 0

    # And one made by openssl with the original key verifies in the vault.
    osig = d / "osig"
    openssl("dgst", "-sha256", "-sign", target, "-keyform", "DER",
            "-out", osig, msg)
    byok.store.run("key", "verify", "myvault/eckey", "--in", msg,
                   "--sig", osig, check=EX_OK)


@pytest.mark.parametrize("part", [1, 2])
def test_byok_corrupted_blob(byok, part):
    """A byte flipped in either part: exit 77, nothing imported."""
    d = byok.workdir()
    target = d / "target.bin"
    openssl("rand", "-out", target, 32)
    blob, n1 = byok.wrap(target)
    data = bytearray(blob.read_bytes())
    at = n1 // 2 if part == 1 else n1 + (len(data) - n1) // 2
    data[at] ^= 0x01
    blob.write_bytes(bytes(data))

    before = byok.keys()
    name = f"broken{part}"
    res = byok.store.run("key", "import", f"myvault/{name}", "--byok", blob,
                         "--kek", "myvault/import", "--kty", "aes-256")
    assert res.returncode == EX_NOPERM, res.stderr
    assert res.stdout == ""
    assert f"myvault/{name}" in res.stderr
    assert byok.keys() == before
    assert name not in byok.store.key_names("myvault", deleted=True)
    byok.store.run("key", "show", f"myvault/{name}", check=EX_NOINPUT)
    rec = byok.last_import_record(name)
    assert rec["outcome"] != "ok", rec

    # The intact blob still imports under that name: nothing was left over.
    good, _ = byok.wrap(target)
    byok.store.run("key", "import", f"myvault/{name}", "--byok", good,
                   "--kek", "myvault/import", "--kty", "aes-256",
                   check=EX_OK)
    byok.store.check_usable(f"myvault/{name}", "aes-256")


def test_byok_wrong_kty(byok):
    """A P-256 key imported as ec-p384 is refused (65), nothing imported."""
    d = byok.workdir()
    target = d / "target.bin"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-outform", "DER", "-out", target)
    blob, _ = byok.wrap(target)
    before = byok.keys()
    res = byok.store.run("key", "import", "myvault/wrongkty", "--byok", blob,
                         "--kek", "myvault/import", "--kty", "ec-p384")
    assert res.returncode == EX_DATAERR, res.stderr
    assert byok.keys() == before
    # Nor as a symmetric key: PKCS#8 is not 32 raw bytes.
    res = byok.store.run("key", "import", "myvault/wrongkty", "--byok", blob,
                         "--kek", "myvault/import", "--kty", "aes-256")
    assert res.returncode == EX_DATAERR, res.stderr
    assert byok.keys() == before
    assert byok.last_import_record("wrongkty")["outcome"] != "ok"


def test_byok_kek_must_be_import_key(byok):
    """--kek naming an ordinary RSA key (even with a blob correctly wrapped
    for it) or an AES key is refused: rp_key_import returns RP_ERR_DENIED
    for a kek that is not an import key (exit 77)."""
    s = byok.store
    s.make_key("myvault/plainrsa", "rsa-2048")
    s.make_key("myvault/plainaes", "aes-256")
    d = byok.workdir()
    pem = d / "plainrsa.pem"
    pem.write_bytes(s.run("key", "show", "myvault/plainrsa", "--pem",
                          check=EX_OK).out)
    target = d / "target.bin"
    openssl("rand", "-out", target, 32)
    blob, n1 = byok.wrap(target, import_pem=pem)
    assert n1 == 256
    before = byok.keys()
    for kek in ("myvault/plainrsa", "myvault/plainaes"):
        res = s.run("key", "import", "myvault/viaplain", "--byok", blob,
                    "--kek", kek, "--kty", "aes-256")
        assert res.returncode == EX_NOPERM, (kek, res.stderr)
        assert byok.keys() == before
    # A kek that does not exist.
    res = s.run("key", "import", "myvault/viaplain", "--byok", blob,
                "--kek", "myvault/nosuchkey", "--kty", "aes-256")
    assert res.returncode == EX_NOINPUT, res.stderr
    assert byok.keys() == before


def test_import_key_cannot_unwrap(byok):
    """An import key does nothing but receive BYOK imports."""
    s = byok.store
    d = byok.workdir()
    target = d / "target.bin"
    openssl("rand", "-out", target, 32)
    blob, n1 = byok.wrap(target)
    part1 = d / "part1.bin"
    part1.write_bytes(blob.read_bytes()[:n1])
    for args in (["unwrap"], ["unwrap", "--alg", "RSA-OAEP-256"],
                 ["decrypt"]):
        res = s.run("key", args[0], "myvault/import", *args[1:], "--in",
                    part1)
        assert res.returncode == EX_NOPERM, (args, res.stderr)
        assert res.out == b""
    msg = s.tmpfile(b"message")
    for verb in ("sign", "wrap", "encrypt"):
        res = s.run("key", verb, "myvault/import", "--in", msg)
        assert res.returncode == EX_NOPERM, (verb, res.stderr)
        assert res.out == b""


def test_import_key_stays_an_import_key(byok):
    """`key set --ops` cannot turn an import key into one that unwraps:
    else every BYOK blob ever made for it (part 1 is the ephemeral key
    under RSA-OAEP) would open, and with it the imported material."""
    s = byok.store
    s.run("key", "create", "myvault/import2", "--kty", "rsa-2048", "--ops",
          "import", check=EX_OK)
    d = byok.workdir()
    pem = d / "import2.pem"
    pem.write_bytes(s.run("key", "show", "myvault/import2", "--pem",
                          check=EX_OK).out)
    target = d / "target.bin"
    openssl("rand", "-out", target, 32)
    blob, n1 = byok.wrap(target, import_pem=pem)
    part1 = d / "part1.bin"
    part1.write_bytes(blob.read_bytes()[:n1])
    for ops in ("unwrap", "decrypt", "all", "unwrap,decrypt,sign"):
        res = s.run("key", "set", "myvault/import2", "--ops", ops)
        assert res.returncode == EX_DATAERR, (ops, res.stdout, res.stderr)
    assert s.json("key", "show", "myvault/import2")["ops"] == ["import"]
    res = s.run("key", "unwrap", "myvault/import2", "--in", part1)
    assert res.returncode == EX_NOPERM and res.out == b""
    # It still receives imports.
    s.run("key", "import", "myvault/viaimport2", "--byok", blob, "--kek",
          "myvault/import2", "--kty", "aes-256", check=EX_OK)


def _doc_blocks():
    text = DOC.read_text()
    return re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)


def test_doc_runs_verbatim(rampart_bin, tmp_path):
    """The shell blocks of docs/byok.md, run as written (with this test's
    data directory and token file in the `export` line)."""
    blocks = _doc_blocks()
    assert len(blocks) == 4, blocks
    store = Store(rampart_bin, tmp_path)
    store.make_vault("myvault")
    token_file = tmp_path / "token"
    token_file.write_text(store.token + "\n")
    token_file.chmod(0o600)

    def fix_export(m):
        out = []
        for assign in m.group(1).split():
            var, _, _ = assign.partition("=")
            value = {"RAMPART_DATA": str(store.data),
                     "RAMPART_TOKEN_FILE": str(token_file),
                     "RAMPART_TOKEN": f'"$(cat {token_file})"'}[var]
            out.append(f"{var}={value}")
        return "export " + " ".join(out)

    script = "\n".join(blocks)
    script, n = re.subn(r"^export (.*)$", fix_export, script, flags=re.M)
    assert n == 1, script
    work = tmp_path / "work"
    work.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "rampart").symlink_to(rampart_bin)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAMPART_")}
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c",
                           f"cd {work}\n{script}"],
                          capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nscript:\n{script}\n"
        f"stdout: {proc.stdout.decode(errors='replace')}\n"
        f"stderr: {proc.stderr.decode(errors='replace')}")
    assert proc.stdout.decode().endswith("BYOK round trip OK\n")
    # The owner's ephemeral files are gone; the imported key is there.
    assert not (work / "ephemeral.bin").exists()
    assert (work / "data.out").read_bytes() == (work / "data.bin").read_bytes()
    assert store.key_names("myvault") == ["import", "mykey"]


@pytest.mark.parametrize("kty,gen,convert", [
    ("ec-p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
     ["ec"]),
    ("rsa-2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
     ["rsa", "-traditional"]),
])
def test_byok_material_stored_as_pkcs8(byok, kty, gen, convert):
    """Target material in a type-specific DER form (SEC 1, PKCS #1)
    imports, but is kept as the PKCS#8 docs/FORMAT.md says versions hold,
    the same bytes as the key's PKCS#8 from openssl."""
    d = byok.workdir()
    pem, target, pkcs8 = d / "key.pem", d / "target.der", d / "pkcs8.der"
    openssl("genpkey", *gen, "-out", pem)
    openssl(*convert, "-in", pem, "-outform", "DER", "-out", target)
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER",
            "-out", pkcs8)
    assert target.read_bytes() != pkcs8.read_bytes()
    blob, _ = byok.wrap(target)
    name = "typespecific-" + kty
    byok.store.run("key", "import", f"myvault/{name}", "--byok", blob,
                   "--kek", "myvault/import", "--kty", kty, check=EX_OK)
    secrets = StoreSecrets(byok.store.vault_dir)
    assert secrets.materials[("myvault", name, 1)] == (
        kty, pkcs8.read_bytes())
    byok.store.check_usable(f"myvault/{name}", kty)
