# SPDX-License-Identifier: Apache-2.0
"""Crash safety of service encryption: SIGKILL `file put`, `dep roll` and
`dep purge` at random points and check that nothing committed is lost and
nothing is left broken.

Set-up: tenant `acme` (owner alice) under a Customer Key DEP `acme/ck`
rooted in two RSA-2048 keys of two purge-protected vaults; tenants
`goneN` each with a Customer Key DEP of their own, a couple of files, and
both roots disabled (revoked) so that the DEP may be purged.

The commands are started with Popen and killed after a random delay,
mostly within the command's own measured run time (before, in and after
its commit), sometimes anywhere in the first 40 ms:

  - `file put` of 1-6 MiB: new files, and new versions of existing ones
    (edited copies of an earlier content, so most chunks are reused);
  - `dep roll acme/ck`, each after a `key rotate` of one of its roots;
  - `dep purge goneN/ck`, again and again until one run ends by itself
    (exit 0; or refused because a killed run had committed the purge),
    the kills sweeping the run from its start-up to its end.

The driver knows only what it was told: a version is "reported committed"
when its put exited 0 (with the version number it printed). Afterwards:

  - `store check --deep --collect`, then `store check --deep`, exit 0
    (orphan blobs of killed puts are allowed in the first and collected);
  - every reported version of every file reads back byte-identical, and a
    version nobody reported (a killed put that had committed) holds the
    content of one of the killed puts of that file;
  - the files of each purged tenant are unreadable: non-zero exit, no
    output; and gone: no longer listed, no versions left, the DEP's
    availability key purged (audited). A purge that a killed run left
    half done must not be refused from then on;
  - `audit verify` exits 0; no stray files in the vault or content DB
    directories; temporary blobs of killed puts go once an hour old.

Killed puts that committed a version without an audit record are printed
(the service appends its audit record after the content DB commit), not
asserted.

The seed is printed; RAMPART_FILE_CRASH_SEED=N repeats a run's random
choices (operations, sizes, contents, delays); where each kill lands still
depends on timing.
"""
import hashlib
import json
import os
import random
import select
import signal
import subprocess
import time

from fileutil import KiB, MiB, FileStore, sha256
from vaultutil import EX_NOINPUT, EX_OK, describe, genpkey

# Kills wanted per operation; at least MIN_KILLS in all.
QUOTA = {"put": 34, "roll": 10, "purge": 9}
MIN_KILLS = 50
MIN_PER_KIND = {"put": 25, "roll": 5, "purge": 3}
MAX_ATTEMPTS = 300
PURGE_TENANTS = 6       # killed purges; one more tenant is purged to time it
MAX_PATHS = 10          # live files; new versions of them beyond that
MIN_SIZE, MAX_SIZE = 1 * MiB, 6 * MiB
RECALIBRATE_EVERY = 12  # attempts between two timed (unkilled) puts
TENANT = "acme"
SITE = "www"


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


class Attempt:
    def __init__(self, n, kind, target):
        self.n = n
        self.kind = kind
        self.target = target
        self.delay = None
        self.rc = None
        self.killed = False
        self.out = b""
        self.err = b""
        self.sha = None
        self.size = None
        self.rid = f"fc-{n:04d}-{kind}"

    def __repr__(self):
        how = "killed" if self.killed else f"exit {self.rc}"
        size = "" if self.size is None else f" ({self.size} bytes)"
        return (f"#{self.n} {self.kind} {self.target}{size} after "
                f"{self.delay * 1000:.1f} ms: {how}")


class PathModel:
    """What the driver knows of one live file."""

    def __init__(self):
        self.reported = {}      # version -> sha256 of a put that exited 0
        self.killed = set()     # sha256 of every killed put
        self.cur = None         # the last content put (or tried)


def mutate(rng, data):
    """An edited copy: 1 to 3 replaced, inserted or cut regions, or a new
    length; 1 to 6 MiB."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        how = rng.choice(("replace", "insert", "cut", "resize"))
        at = rng.randrange(len(b) + 1)
        n = rng.randint(1, 64 * KiB)
        if how == "replace":
            b[at:at + n] = rng.randbytes(n)
        elif how == "insert":
            b[at:at] = rng.randbytes(n)
        elif how == "cut":
            del b[at:at + n]
        else:
            want = rng.randint(MIN_SIZE, MAX_SIZE)
            if want < len(b):
                del b[want:]
            else:
                b += rng.randbytes(want - len(b))
    if len(b) < MIN_SIZE:
        b += rng.randbytes(MIN_SIZE - len(b))
    return bytes(b[:MAX_SIZE + 64 * KiB])


def test_sigkill_file_put_roll_purge(rampart_bin, tmp_path):
    seed = int(os.environ.get("RAMPART_FILE_CRASH_SEED",
                              random.SystemRandom().randrange(1 << 32)))
    print(f"file crash test seed: {seed} (RAMPART_FILE_CRASH_SEED={seed} "
          "repeats its random choices; what a kill hits depends on timing)")
    rng = random.Random(seed)
    t_start = time.monotonic()

    fs = FileStore(rampart_bin, tmp_path, tenant=TENANT)
    alice = fs.owner_token
    live_roots = fs.make_customer_dep(TENANT, "ck", "ck")
    # The purge tenants share two vaults; each DEP has its own two keys,
    # imported (RSA key generation is slow) from two PEMs made once.
    pems = {}
    for side in ("a", "b"):
        fs.make_vault(f"gone-{side}", purge_protection=True, owner=fs.owner)
        fs.grant(f"gone-{side}", "rampart-service", "wrap,unwrap",
                 token=alice)
        pems[side] = genpkey("rsa-2048", tmp_path / f"root-{side}.pem")
    gone = []  # tenant names; gone[0] is purged unkilled, to time purge
    gone_files = {}
    avail = {}  # tenant -> its DEP's availability key, VAULT/KEY
    for i in range(PURGE_TENANTS + 1):
        t = f"gone{i}"
        fs.make_tenant(t, fs.owner)
        roots = []
        for side in ("a", "b"):
            k = fs.import_key(f"gone-{side}/k{i}", "pem", pems[side],
                              token=alice).json()
            assert k["kty"] == "rsa-2048", k
            roots.append(f"gone-{side}/k{i}")
        fs.json("dep", "create", f"{t}/ck", "--root", roots[0], "--root",
                roots[1], token=alice)
        fs.json("dep", "assign", f"{t}/ck", token=alice)
        gone_files[t] = []
        for j in range(2):
            ref = f"{t}/{SITE}/doc{j}.bin"
            fs.as_owner("file", "put", ref, check=EX_OK,
                        input=rng.randbytes(rng.randint(300 * KiB, MiB)))
            gone_files[t].append(ref)
        for r in roots:
            fs.as_owner("key", "set", r, "--disable", check=EX_OK)
        [avail[t]] = [k["key"] for k in fs.dep_state(t, "ck")["keys"]
                      if k["slot"] == "availability"]
        gone.append(t)
    t_setup = time.monotonic() - t_start

    files_dir = tmp_path / "files"
    files_dir.mkdir()
    src = files_dir / "put.in"
    paths = {}      # path -> PathModel
    attempts = []
    problems = []   # what went wrong, reported together at the end
    kills = {k: 0 for k in QUOTA}
    finished = {k: 0 for k in QUOTA}

    def put_argv(path, rid):
        return fs.argv("file", "put", f"{TENANT}/{SITE}/{path}", "-i", src,
                       "--json", "--request-id", rid)

    def record_put(att, model):
        """The outcome of a put the driver saw finish."""
        assert att.rc == EX_OK, (att, att.err)
        out = json.loads(att.out)
        assert out["file"] == f"{TENANT}/{SITE}/{att.target}", out
        # Versions only grow, whatever killed puts committed meanwhile.
        assert out["version"] > max(model.reported, default=0), \
            (att, out, sorted(model.reported))
        model.reported[out["version"]] = att.sha

    def new_content(path):
        model = paths.get(path)
        if model is None or model.cur is None:
            data = rng.randbytes(rng.randint(MIN_SIZE, MAX_SIZE))
        else:
            data = mutate(rng, model.cur)
        src.write_bytes(data)
        return data

    # ---- timing ---------------------------------------------------------
    # The delays are drawn within each kind of command's run time: timed on
    # commands run to their end first, then learnt from every command that
    # ends before its kill, and from a put run to its end every
    # RECALIBRATE_EVERY attempts (the machine's load changes meanwhile).
    t0 = time.monotonic()
    fs.as_owner("file", "ls", f"{TENANT}/{SITE}")
    fixed = time.monotonic() - t0   # start, open the stores, close
    samples = {"put": [], "roll": [], "purge": []}  # put: s per byte

    def learn(kind, took, size=None):
        if kind == "put":
            samples["put"].append(max(took - fixed, 0.001) / size)
        else:
            samples[kind].append(took)

    def estimate(kind, size=None):
        recent = median(samples[kind][-7:])
        return fixed + recent * size if kind == "put" else recent

    def timed_put(path):
        model = paths.setdefault(path, PathModel())
        data = new_content(path)
        att = Attempt(len(attempts) + 1, "put", path)
        att.delay, att.size, att.sha = 0.0, len(data), sha256(data)
        t0 = time.monotonic()
        proc = subprocess.run(put_argv(path, att.rid), env=fs.env(alice),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=300)
        learn("put", time.monotonic() - t0, len(data))
        att.rc, att.out, att.err = proc.returncode, proc.stdout, proc.stderr
        model.cur = data
        record_put(att, model)
        attempts.append(att)

    for k in range(3):
        timed_put(f"f{k}.bin")

    def rotate_one():
        root = rng.choice(live_roots)
        fs.as_owner("key", "rotate", root, check=EX_OK)

    rotate_one()
    t0 = time.monotonic()
    fs.as_owner("dep", "roll", f"{TENANT}/ck", check=EX_OK)
    learn("roll", time.monotonic() - t0)
    t0 = time.monotonic()
    fs.as_owner("dep", "purge", "gone0/ck", "--confirm", "gone0/ck",
                check=EX_OK)
    learn("purge", time.monotonic() - t0)
    purged = {"gone0"}      # purges that completed
    stuck = {}  # purges a killed run committed: tenant -> rerun's error
    purge_queue = gone[1:]
    print(f"set-up {t_setup:.1f} s; command start {fixed * 1000:.0f} ms, "
          f"put {estimate('put', MiB) * 1000:.0f} ms a MiB, roll "
          f"{estimate('roll') * 1000:.0f} ms, purge "
          f"{estimate('purge') * 1000:.0f} ms")

    def draw_delay(est):
        # Mostly within the command's run time (before, in and after its
        # commit), sometimes anywhere in the first 40 ms.
        if rng.random() < 0.8:
            return rng.uniform(0, 1.3 * est)
        return rng.uniform(0, 0.040)

    # A purge does its work in the last few ms of its run, after the
    # process started and opened the stores, and the first run that ends
    # by itself ends the tenant's series. So the kills of one tenant's
    # purges sweep its run: from a random point in the start-up, later
    # each time by a random step of a tenth to a fifth of the run time.
    sweep = {}

    def purge_delay(t, est):
        if sweep.get("tenant") != t:
            sweep.update(tenant=t, at=rng.uniform(0.5, 1.0) * min(fixed, est))
        else:
            sweep["at"] += rng.uniform(0.1, 0.2) * est
        return sweep["at"]

    def wait_or_kill(proc, delay):
        """Wait up to delay for proc to end, then SIGKILL it. Returns how
        long it ran when it ended by itself, else None."""
        t0 = time.monotonic()
        try:
            fd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                ended = bool(poller.poll(delay * 1000))
            finally:
                os.close(fd)
        else:
            time.sleep(delay)
            ended = proc.poll() is not None
        took = time.monotonic() - t0
        if not ended:
            # Until it is waited for, the pid stays ours (a zombie at
            # worst).
            os.kill(proc.pid, signal.SIGKILL)
        return took if ended else None

    # ---- the kills ------------------------------------------------------
    target = sum(QUOTA.values())
    n = 0
    while n < MAX_ATTEMPTS:
        want = {k: QUOTA[k] - kills[k] for k in QUOTA if kills[k] < QUOTA[k]}
        if not purge_queue:
            want.pop("purge", None)
        if not want and sum(kills.values()) < target:
            # Out of tenants to purge: more puts instead.
            want = {"put": target - sum(kills.values())}
        if not want:
            break
        n += 1
        if n % RECALIBRATE_EVERY == 0:
            timed_put(rng.choice(sorted(paths)))
        kind = rng.choices(list(want), list(want.values()))[0]
        if kind == "put":
            if len(paths) < MAX_PATHS and rng.random() < 0.4:
                path = f"f{n}-{rng.randrange(1000)}.bin"
            else:
                path = rng.choice(sorted(paths))
            model = paths.setdefault(path, PathModel())
            data = new_content(path)
            model.cur = data
            att = Attempt(len(attempts) + 1, "put", path)
            att.size, att.sha = len(data), sha256(data)
            argv = put_argv(path, att.rid)
        elif kind == "roll":
            rotate_one()
            att = Attempt(len(attempts) + 1, "roll", f"{TENANT}/ck")
            argv = fs.argv("dep", "roll", f"{TENANT}/ck", "--request-id",
                           att.rid)
        else:
            t = purge_queue[0]
            att = Attempt(len(attempts) + 1, "purge", f"{t}/ck")
            argv = fs.argv("dep", "purge", f"{t}/ck", "--confirm", f"{t}/ck",
                           "--request-id", att.rid)
        if kind == "purge":
            att.delay = purge_delay(t, estimate("purge"))
        else:
            att.delay = draw_delay(estimate(kind, att.size))
        proc = subprocess.Popen(argv, env=fs.env(alice),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        took = wait_or_kill(proc, att.delay)
        att.out, att.err = proc.communicate(timeout=300)
        attempts.append(att)
        if proc.returncode == -signal.SIGKILL:
            att.killed = True
            kills[kind] += 1
            if kind == "put":
                model.killed.add(att.sha)
            continue
        att.rc = proc.returncode
        finished[kind] += 1
        if took is not None and att.rc == EX_OK:
            learn(kind, took, att.size)
        if kind == "put":
            record_put(att, model)
        elif kind == "roll":
            assert att.rc == EX_OK, (att, att.err)
        else:
            t = att.target.split("/")[0]
            if att.rc == EX_OK:
                purged.add(t)
                purge_queue.pop(0)
                continue
            state = fs.dep_state(t, "ck")["state"]
            if state == "purged":
                # A killed run had committed "purged": this one is refused.
                # What that run left undone is checked below.
                stuck[t] = att.err.decode(errors="replace").strip()
                purge_queue.pop(0)
            else:
                raise AssertionError(f"{att}: {att.err!r}")

    total = sum(kills.values())
    elapsed = time.monotonic() - t_start
    print(f"{n} attempts in {elapsed:.1f} s: kills {kills}, finished first "
          f"{finished}; purges completed {sorted(purged)}, stuck "
          f"{sorted(stuck)}")
    assert total >= MIN_KILLS, f"only {total} kills: {kills}"
    for kind, least in MIN_PER_KIND.items():
        assert kills[kind] >= least, (kind, kills)

    # ---- after the crashes ----------------------------------------------
    # Purges still pending run to their end now.
    for t in purge_queue:
        res = fs.as_owner("dep", "purge", f"{t}/ck", "--confirm", f"{t}/ck")
        if res.returncode == EX_OK:
            purged.add(t)
        elif fs.dep_state(t, "ck")["state"] == "purged":
            stuck[t] = res.stderr.strip()
        else:
            raise AssertionError(describe(res, 0))
    for t in sorted(purged | set(stuck)):
        d = fs.dep_state(t, "ck")
        assert d["state"] == "purged" and d["keys"] == [], d

    assert fs.leftover_files() == []
    # uploads.lock: the (empty) file puts and the collector flock.
    assert set(os.listdir(fs.content_dir)) <= {
        "content.db", "content.db-wal", "content.db-shm", "uploads.lock"}, \
        os.listdir(fs.content_dir)

    res, rep = fs.check_store(deep=True, collect=True)
    print(f"store check --deep --collect: exit {res.returncode}, "
          f"{rep['versions']} versions, {rep['blobs']} blobs, "
          f"{len(rep['orphans'])} orphans collected")
    if res.returncode != 0:
        problems.append(f"store check --deep --collect: exit "
                        f"{res.returncode}: {rep['problems']}")
    assert rep["collected"] == len(rep["orphans"]), rep
    res, rep = fs.check_store(deep=True)
    if res.returncode != 0:
        problems.append(f"store check --deep: exit {res.returncode}: "
                        f"{rep['problems']}")
    assert rep["orphans"] == [], rep

    # Blobs half written by a killed put stay as acct-NN/.tmp-*; the blob
    # store removes those older than an hour when it is opened.
    tmps = fs.blob_tmp_files()
    old = time.time() - 2 * 3600
    for p in tmps:
        os.utime(p, (old, old))
    fs.check_store(check=None)
    assert fs.blob_tmp_files() == [], fs.blob_tmp_files()

    # Every reported version, byte for byte; the versions nobody reported
    # hold the content of a killed put of that file.
    out = tmp_path / "out"
    unreported = 0
    committed_shas = {}  # path -> sha256 of every version found
    for path, model in sorted(paths.items()):
        ref = f"{TENANT}/{SITE}/{path}"
        res = fs.as_owner("file", "versions", ref, "--json")
        if res.returncode != EX_OK:
            assert not model.reported, describe(res, 0)
            continue
        listed = [v["version"] for v in res.json()]
        assert listed == list(range(1, len(listed) + 1)), (path, listed)
        assert set(model.reported) <= set(listed), \
            (path, listed, sorted(model.reported))
        for v in listed:
            fs.get(ref, out, version=v)
            h = hashlib.sha256(out.read_bytes()).hexdigest()
            committed_shas.setdefault(path, set()).add(h)
            if v in model.reported:
                assert h == model.reported[v], (path, v)
            else:
                unreported += 1
                assert h in model.killed, (path, v, "unknown content")
    print(f"{sum(len(m.reported) for m in paths.values())} reported "
          f"versions and {unreported} committed by killed puts read back")

    # The purged tenants' files are gone for good: unreadable, no longer
    # listed, and the availability key of their DEP purged from the key
    # store. A purge killed after it committed "purged" cannot be run
    # again (it is refused); it must not have left anything of that undone.
    audit = {}
    by_key = {}
    tail = fs.run("audit", "tail", "-n", "100000", "--json", check=EX_OK)
    for line in tail.stdout.splitlines():
        rec = json.loads(line)
        audit.setdefault(rec["request_id"], []).append(rec)
        by_key.setdefault((rec["vault"], rec["key"], rec["op"]),
                          []).append(rec["outcome"])
    for t in sorted(purged | set(stuck)):
        left = []
        for ref in gone_files[t]:
            res = fs.as_owner("file", "get", ref)
            assert res.returncode != EX_OK and res.out == b"", describe(res)
            res = fs.as_owner("file", "versions", ref)
            if res.returncode != EX_NOINPUT:
                left.append(f"{ref} still has versions (file versions: "
                            f"exit {res.returncode})")
        res = fs.as_owner("file", "ls", f"{t}/{SITE}", "--json")
        if res.returncode == EX_OK and res.json() != []:
            left.append(f"file ls {t}/{SITE} lists "
                        f"{[f['path'] for f in res.json()]}")
        vault, key = avail[t].split("/")
        if "ok" not in by_key.get((vault, key, "key.purge"), []):
            left.append(f"its availability key {avail[t]} was not purged")
        if t in stuck and left:
            problems.append(
                f"dep purge {t}/ck was killed after it committed the DEP as "
                f"purged; run again it is refused ({stuck[t]!r}), so it can "
                f"never finish, and it left: " + "; ".join(left))
        elif left:
            problems.append(f"dep purge {t}/ck completed but left: " +
                            "; ".join(left))
    if stuck:
        print(f"purges refused after a killed run had committed: "
              f"{sorted(stuck)}")

    # Killed puts that committed: does the audit log know them? (Not
    # asserted: the service audits a call after its content DB commit, so
    # a kill in between leaves a committed version without a record.)
    unaudited = [a for a in attempts if a.kind == "put" and a.killed and
                 a.sha in committed_shas.get(a.target, set()) and
                 a.rid not in audit]
    if unaudited:
        print(f"note: {len(unaudited)} killed puts committed a version but "
              f"left no audit record: {unaudited}")

    # The live DEP still rolls; its keys follow the roots' versions.
    rotate_one()
    fs.as_owner("dep", "roll", f"{TENANT}/ck", check=EX_OK)
    d = fs.dep_state(TENANT, "ck")
    for k in d["keys"]:
        if k["slot"] in ("root1", "root2"):
            cur = fs.json("key", "show", k["key"], token=alice)
            assert k["version"] == cur["current_version"], (k, cur)
    path = sorted(p for p, m in paths.items() if m.reported)[0]
    v = max(paths[path].reported)
    assert fs.get_sha(f"{TENANT}/{SITE}/{path}", out, version=v) == \
        paths[path].reported[v]

    verdict = fs.json("audit", "verify")
    assert verdict["ok"] is True, verdict
    print(f"total {time.monotonic() - t_start:.1f} s")
    assert not problems, "\n".join(problems)
