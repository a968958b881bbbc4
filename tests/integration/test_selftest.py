# SPDX-License-Identifier: Apache-2.0
"""`rampart selftest`: the built-in known-answer tests, FIPS mode, and
proof that a damaged vector file is caught."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import ROOT

VECTORS = ROOT / "tests" / "vectors"


def test_selftest_json(rampart):
    p = rampart("selftest", "--json", check=0)
    out = json.loads(p.stdout)
    assert set(out) >= {"passed", "failed", "fips", "provider"}
    assert out["failed"] == 0
    assert out["passed"] >= 500
    assert out["fips"] is False
    assert out["provider"].startswith("OpenSSL")


def test_global_json_flag(rampart):
    out = json.loads(rampart("--json", "selftest", check=0).stdout)
    assert out["failed"] == 0


def test_selftest_human(rampart):
    p = rampart("selftest", check=0)
    assert "0 failed" in p.stdout
    assert "fips mode: off" in p.stdout
    assert "provider: OpenSSL" in p.stdout


def test_selftest_fips(rampart):
    out = json.loads(rampart("selftest", "--fips", "--json", check=0).stdout)
    assert out["fips"] is True
    assert out["failed"] == 0
    # Ed25519 and Argon2id are refused in FIPS mode, so fewer vectors run.
    normal = json.loads(rampart("selftest", "--json", check=0).stdout)
    assert out["passed"] < normal["passed"]
    assert out["passed"] >= 500


def test_vector_dir_matches_builtin(rampart):
    builtin = json.loads(rampart("selftest", "--json", check=0).stdout)
    total = 0
    for sub in ("wycheproof", "rfc"):
        out = json.loads(rampart("selftest", "--json", "--vectors",
                                 VECTORS / sub, check=0).stdout)
        assert out["failed"] == 0
        total += out["passed"]
    assert total == builtin["passed"]


def corrupt_copy(tmp_path, name, mutate):
    dst = tmp_path / "vectors"
    dst.mkdir()
    src = VECTORS / "wycheproof" / name
    doc = json.loads(src.read_text())
    mutate(doc)
    (dst / name).write_text(json.dumps(doc))
    return dst


def flip_first_valid(field):
    def mutate(doc):
        for group in doc["testGroups"]:
            for test in group["tests"]:
                if test["result"] == "valid" and test[field]:
                    v = test[field]
                    test[field] = v[:-1] + ("0" if v[-1] != "0" else "1")
                    return
        raise AssertionError("no valid vector")
    return mutate


@pytest.mark.parametrize("name,field", [
    ("aes_gcm_test.json", "ct"),
    ("aes_gcm_test.json", "tag"),
    ("aes_wrap_test.json", "ct"),
    ("hmac_sha256_test.json", "tag"),
    ("ecdsa_secp256r1_sha256_test.json", "sig"),
    ("rsa_oaep_2048_sha256_mgf1sha256_test.json", "msg"),
    ("aes_xts_test.json", "ct"),
])
def test_corrupted_vector_fails(rampart, tmp_path, name, field):
    d = corrupt_copy(tmp_path, name, flip_first_valid(field))
    p = rampart("selftest", "--json", "--vectors", d)
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["failed"] >= 1
    assert f"{name} tcId" in p.stderr


def test_invalid_marked_valid_fails(rampart, tmp_path):
    changed = []

    def mutate(doc):
        for group in doc["testGroups"]:
            for test in group["tests"]:
                if test["result"] == "invalid":
                    test["result"] = "valid"
                    changed.append(test["tcId"])
                    return
        raise AssertionError("no invalid vector")
    d = corrupt_copy(tmp_path, "aes_kwp_test.json", mutate)
    p = rampart("selftest", "--json", "--vectors", d)
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["failed"] == 1 and out["passed"] > 0, out
    assert f"aes_kwp_test.json tcId {changed[0]}:" in p.stderr, p.stderr


def test_truncated_vector_file_fails(rampart, tmp_path):
    d = tmp_path / "v"
    d.mkdir()
    text = (VECTORS / "wycheproof" / "hkdf_sha256_test.json").read_text()
    (d / "hkdf.json").write_text(text[: len(text) // 2])
    p = rampart("selftest", "--vectors", d)
    assert p.returncode == 1
    assert "JSON error" in p.stderr


def test_missing_vector_dir(rampart, tmp_path):
    p = rampart("selftest", "--vectors", tmp_path / "nope")
    assert p.returncode == 66
    assert p.stderr.startswith("rampart: selftest: ")


@pytest.mark.skipif(shutil.which("meson") is None, reason="meson missing")
def test_corrupted_source_vector_breaks_the_build_tests(tmp_path):
    """The vectors are compiled into the library: a damaged file in the
    source tree must make the unit test suite fail."""
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        "build*", ".git", "__pycache__", ".pytest_cache", "var"))
    vec = src / "tests" / "vectors" / "wycheproof" / "aes_gcm_test.json"
    doc = json.loads(vec.read_text())
    flip_first_valid("tag")(doc)
    vec.write_text(json.dumps(doc))
    bld = tmp_path / "build"
    env = dict(os.environ)
    env.pop("ASAN_OPTIONS", None)
    subprocess.run(["meson", "setup", str(bld), "-Dbench=false"], cwd=src,
                   check=True, capture_output=True, env=env)
    subprocess.run(["ninja", "-C", str(bld), "tests/test-selftest"],
                   check=True, capture_output=True, env=env)
    p = subprocess.run([str(bld / "tests" / "test-selftest")],
                       capture_output=True, text=True, env=env)
    assert p.returncode != 0
    assert "test_builtin_vectors_pass" in p.stdout + p.stderr
