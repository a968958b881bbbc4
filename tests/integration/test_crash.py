# SPDX-License-Identifier: Apache-2.0
"""Crash safety: SIGKILL key-changing commands at random points and check
that the store is never left broken.

Commands (key create, import --pem, rotate, delete, purge) are started with
Popen and killed after a random delay: some before they open the store,
some in the middle of their transaction or its commit, some after they
finished (then their result is recorded like any other). Every command
carries its own --request-id, and every call leaves exactly one audit
record in the same transaction as its change, so afterwards the audit log
says which killed commands committed; the store must agree with it:

  - the audit chain verifies, key list works;
  - every command that exited 0 is in the audit log as "ok", and its effect
    is there: a key reported created (and not later reported deleted or
    purged) is listed and usable (wrap/unwrap round trip, sign/verify);
  - a killed command either committed completely (audited "ok", effect
    visible) or not at all: a key whose creation was killed is fully
    present and usable or absent, never broken;
  - no file but store.db, its -wal and -shm and master.key in DIR/vault.

The seed is printed; RAMPART_CRASH_SEED=N repeats a run's random choices
(commands, names, delays); where each kill lands still depends on timing.
"""
import json
import os
import random
import signal
import subprocess
import time

import pytest

from vaultutil import (EX_NOINPUT, EX_OK, FAST_KTYS, Store, genpkey)

TARGET_KILLS = 60      # processes actually killed mid-run
MIN_KILLS = 50
MAX_ATTEMPTS = 400
VAULT = "crash"

# kind -> weight
OPS = {"create": 30, "import": 15, "rotate": 25, "delete": 15, "purge": 15}


class Op:
    def __init__(self, n, kind, name, kty):
        self.rid = f"crash-{n:04d}-{kind}"
        self.kind = kind
        self.name = name
        self.kty = kty
        self.delay = None
        self.rc = None        # exit code if it finished by itself
        self.killed = False
        self.stdout = b""
        self.stderr = b""

    def __repr__(self):
        how = "killed" if self.killed else f"exit {self.rc}"
        return (f"{self.kind} {VAULT}/{self.name} ({self.kty}) "
                f"after {self.delay * 1000:.1f} ms: {how}")


RECALIBRATE_EVERY = 15  # attempts between two timed (unkilled) creates


def timed_create(store, name, kty, rid):
    """key create run to its end; returns its wall time."""
    t0 = time.monotonic()
    store.run("key", "create", f"{VAULT}/{name}", "--kty", kty,
              "--request-id", rid, check=EX_OK)
    return time.monotonic() - t0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


@pytest.fixture
def pems(tmp_path):
    """Private key PEMs made once by openssl genpkey."""
    d = tmp_path / "pems"
    d.mkdir()
    return [(genpkey(kty, d / f"{kty}.pem"), kty)
            for kty in ("ec-p256", "ed25519", "rsa-2048")]


def test_sigkill_at_random_points(rampart_bin, tmp_path, pems):
    seed = int(os.environ.get("RAMPART_CRASH_SEED",
                              random.SystemRandom().randrange(1 << 32)))
    print(f"crash test seed: {seed} (RAMPART_CRASH_SEED={seed} repeats "
          "its random choices; what a kill hits depends on timing)")
    rng = random.Random(seed)
    store = Store(rampart_bin, tmp_path)
    store.make_vault(VAULT)  # no purge protection: purge right after delete

    # The driver's view: only outcomes it knows for sure.
    present, deleted = {}, {}
    ops = []
    times = []
    kills = finished = 0
    n = 0

    def calibrate(count):
        # Keys made normally, timed: how long a command takes now (the
        # machine's load may change while the test runs).
        nonlocal n
        for _ in range(count):
            n += 1
            op = Op(n, "create", f"base{n}", FAST_KTYS[n % 3])
            op.delay, op.rc = 0.0, EX_OK
            times.append(timed_create(store, op.name, op.kty, op.rid))
            ops.append(op)
            present[op.name] = op.kty
        return median(times[-5:])

    runtime = calibrate(5)
    print(f"median key create: {runtime * 1000:.1f} ms")
    while kills < TARGET_KILLS and n < MAX_ATTEMPTS:
        if n % RECALIBRATE_EVERY == 0:
            runtime = calibrate(1)
        n += 1
        weights = dict(OPS)
        if not present:
            weights.update(rotate=0, delete=0)
        if not deleted:
            weights["purge"] = 0
        kind = rng.choices(list(weights), list(weights.values()))[0]
        if kind == "create":
            op = Op(n, kind, f"k{n}", rng.choice(FAST_KTYS))
            argv = ["key", "create", f"{VAULT}/{op.name}", "--kty", op.kty]
        elif kind == "import":
            pem, kty = rng.choice(pems)
            op = Op(n, kind, f"i{n}", kty)
            argv = ["key", "import", f"{VAULT}/{op.name}", "--pem", pem]
        else:
            pool = deleted if kind == "purge" else present
            name = rng.choice(sorted(pool))
            op = Op(n, kind, name, pool[name])
            argv = ["key", kind, f"{VAULT}/{name}"]
        argv += ["--request-id", op.rid]
        # Mostly within the command's own run time (before, in and after
        # the commit), sometimes anywhere in 0-40 ms.
        if rng.random() < 0.8:
            op.delay = rng.uniform(0, 1.3 * runtime)
        else:
            op.delay = rng.uniform(0, 0.040)

        proc = subprocess.Popen(store.argv(*argv), env=store.env(),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(op.delay)
        # Until it is waited for, the pid stays ours (a zombie at worst).
        os.kill(proc.pid, signal.SIGKILL)
        op.stdout, op.stderr = proc.communicate(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            op.killed = True
            kills += 1
        else:
            op.rc = proc.returncode
            finished += 1
            assert op.rc == EX_OK, (op, op.stderr)
        ops.append(op)

        # Keys with an unknown outcome leave the driver's pools.
        if op.kind in ("create", "import"):
            if not op.killed:
                present[op.name] = op.kty
        elif op.kind == "rotate":
            if op.killed:
                del present[op.name]
        elif op.kind == "delete":
            del present[op.name]
            if not op.killed:
                deleted[op.name] = op.kty
        elif op.kind == "purge":
            del deleted[op.name]

    print(f"{n} commands: {kills} killed, {finished} finished first; "
          f"key create took {min(times) * 1000:.1f} to "
          f"{max(times) * 1000:.1f} ms")
    assert kills >= MIN_KILLS, f"only {kills} kills in {n} attempts"
    assert finished >= 5, "every command was killed: delays too short"
    assert store.leftover_files() == []

    # ---- the store after the crashes --------------------------------
    verdict = store.json("audit", "verify")
    assert verdict["ok"] is True, verdict
    store.run("vault", "show", VAULT, check=EX_OK)
    listed = {k["name"]: k for k in store.json("key", "list", VAULT)}
    listed_deleted = {k["name"]: k for k in
                      store.json("key", "list", VAULT, "--deleted")}
    assert not set(listed) & set(listed_deleted)
    out = store.run("audit", "tail", "-n", "100000", "--json",
                    check=EX_OK).stdout
    audit = {}
    for line in out.splitlines():
        rec = json.loads(line)
        audit.setdefault(rec["request_id"], []).append(rec)

    # Replay what committed, judged by the audit log; it must agree with
    # what every finished command reported.
    model = {}
    committed_kills = 0
    for op in ops:
        recs = audit.get(op.rid, [])
        assert len(recs) <= 1, (op, recs)
        rec = recs[0] if recs else None
        if rec is not None:
            assert (rec["vault"], rec["key"]) == (VAULT, op.name), rec
            assert rec["op"] == f"key.{op.kind}", rec
            assert rec["outcome"] == "ok", (op, rec)
        if not op.killed:
            assert rec is not None, f"{op}: reported done, not audited"
        elif rec is not None:
            committed_kills += 1
        if rec is None:
            continue
        if op.kind in ("create", "import"):
            assert op.name not in model, op
            model[op.name] = {"kty": op.kty, "state": "present",
                              "version": 1}
        else:
            m = model[op.name]
            if op.kind == "rotate":
                assert m["state"] == "present", op
                m["version"] += 1
                assert rec["version"] == m["version"], (op, rec)
            elif op.kind == "delete":
                assert m["state"] == "present", op
                m["state"] = "deleted"
            else:
                assert m["state"] == "deleted", op
                m["state"] = "purged"
    print(f"{committed_kills} of {kills} killed commands had committed")

    want_present = {k for k, m in model.items() if m["state"] == "present"}
    want_deleted = {k for k, m in model.items() if m["state"] == "deleted"}
    assert set(listed) == want_present
    assert set(listed_deleted) == want_deleted

    # Every name ever used: show answers cleanly (found, or not found).
    for name in sorted({op.name for op in ops} | set(model)):
        res = store.run("key", "show", f"{VAULT}/{name}", "--json")
        assert res.returncode in (EX_OK, EX_NOINPUT), res.stderr
        assert "corrupt" not in res.stderr.lower(), res.stderr
        m = model.get(name)
        if m is None or m["state"] != "present":
            assert res.returncode == EX_NOINPUT, (name, res.stdout)
            continue
        k = res.json()
        assert k["kty"] == m["kty"], (name, k)
        assert k["current_version"] == m["version"], (name, k)
        versions = store.json("key", "versions", f"{VAULT}/{name}")
        assert [v["version"] for v in versions] == \
            list(range(1, m["version"] + 1)), (name, versions)

    # Keys reported created (and not reported deleted or purged since) —
    # and every other key present — work; so do the deleted ones once
    # recovered. Older versions of rotated keys still verify/unwrap.
    def names(kinds, killed=None):
        return {op.name for op in ops if op.kind in kinds and
                (killed is None or op.killed == killed)}

    reported = names(("create", "import"), killed=False) | set(present)
    assert reported - names(("delete",)) <= want_present
    assert (names(("delete",), killed=False) - names(("purge",)) <=
            want_deleted)
    assert not names(("purge",), killed=False) & (want_present |
                                                   want_deleted)
    for name in sorted(want_deleted):
        store.run("key", "recover", f"{VAULT}/{name}", check=EX_OK)
    for name in sorted(want_present | want_deleted):
        store.check_usable(f"{VAULT}/{name}", model[name]["kty"])
    for name in sorted(want_present | want_deleted):
        if model[name]["version"] > 1:
            store.check_usable(f"{VAULT}/{name}/1", model[name]["kty"])

    # Killed creations that committed are usable above; the others left
    # nothing behind, not even in the deleted list.
    for op in ops:
        if op.kind in ("create", "import") and op.killed:
            assert (op.name in want_present | want_deleted or
                    model.get(op.name, {}).get("state") == "purged") == \
                (op.rid in audit), op

    assert store.json("audit", "verify")["ok"] is True
    assert store.leftover_files() == []
