#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""rampartd soak test: a real daemon over a fresh store under a steady mixed
load for SOAK_SECONDS (default 300), then a clean shutdown and the offline
checks. Python 3 standard library only; `make soak` runs it.

    SOAK_SECONDS=30 /usr/bin/python3 tests/soak/soak.py

Environment: SOAK_SECONDS (whole seconds, >= 15), SOAK_CLIENTS (default 64),
RAMPART_BUILD (default ./build, as for the integration tests), SOAK_KEEP=1
keeps the temporary directory (data, log) for a post-mortem.

Setup, through the API as the store administrator: principals alice, bob,
carol and dave; a group "clients" of all four; tenant "contoso" (owner
alice, bob a user) and tenant "fabrikam" (owner carol, dave an admin); a
vault "soak" with an AES-256 key and an RSA-2048 key, the group granted
wrap, unwrap, sign and verify.

Load: SOAK_CLIENTS threads, each with its own keep-alive HTTPS connection
(http.client; a connection the server closes is reopened and counted), each
acting as one of the four principals on that principal's tenant, under its
own path prefix (cNN/), so that it alone writes the files it reads. Each
repeats a weighted random choice of:
  put        a file of 1 KiB .. 8 MiB (log-uniform), a third of them sent
             chunked, as a new version of one of the client's paths or
             to a new path (at most 4 paths of at most 4 versions: a full
             set makes the client delete a path first, so that the data
             the final deep check reads stays bounded);
             the bytes come from a seeded PRNG, so the client keeps only
             (seed, size, SHA-256) of what it uploaded;
  get        a whole file: status, length, X-Rampart-Version and SHA-256
             compared with the client's record of its last upload;
  range      a random byte range: 206, Content-Range, the bytes compared
             with the regenerated slice;
  list       the client's prefix: exactly its paths, sizes and version
             counts;
  versions   one file's versions: count and latest size;
  delete     one file (204), then a GET of it must be 404;
  wrap       AES-KWP or RSA-OAEP wrap of 32 random bytes, then unwrap,
             compared;
  sign       RSA-PSS sign of random bytes, verify (valid), verify of other
             bytes (invalid).
Every operation and every error is counted; an unexpected status, a
mismatch or an exception is a failure (the first few are printed). After
the load each client reads every file it holds once more (final check).

Memory criterion: rampartd's VmRSS is sampled every 5 s. The first third
of the run is warm-up (the allocator's arenas, SQLite's page caches and
the key caches fill up; 64 connections' buffers get allocated), so it is
only reported. After it, RSS must be flat: min and max are reported, and
the run fails if the mean of the samples of the last third exceeds the mean
of the second third by more than 10% + 8 MiB. Comparing means of two
windows of the same load (rather than the last sample against the first)
keeps one sample taken during a burst of 8 MiB transfers from deciding;
the 10% absorbs the allocator's fragmentation and cache growth that
levels off, the 8 MiB a few connections' worth of buffers. A leak of
even a few hundred bytes per request grows steadily over the run and
exceeds the bound over 300 s; shorter runs (SOAK_SECONDS=30) only catch
gross leaks.

Shutdown: SIGTERM, and rampartd must exit 0. Then, offline, `rampart store
check --deep` and `rampart audit verify` (admin token through
$RAMPART_TOKEN, never argv) must report a consistent store and an intact
audit chain. Orphan blobs are reported, not failed: by design a DELETE
leaves the removed file's blobs (unreadable: their keys went with the
maps) for `store check --collect`.

No assertion is made on timing: rates and latencies are reported only.
Exit status 0 when everything held, 1 otherwise.
"""
import base64
import hashlib
import http.client
import json
import math
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import types

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
try:
    import conftest  # noqa: F401  (daemonutil imports build_dir from it)
except ImportError:
    # conftest imports pytest; the soak test needs only build_dir().
    def _build_dir():
        return pathlib.Path(os.environ.get("RAMPART_BUILD", ROOT / "build"))
    sys.modules["conftest"] = types.SimpleNamespace(build_dir=_build_dir)
from daemonutil import Daemon  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
MIN_FILE = 1 * KIB
MAX_FILE = 8 * MIB
SLOTS_PER_CLIENT = 4         # paths a client keeps at most
VERSIONS_PER_PATH = 4        # then the path is left alone (and deleted)
CHUNKED_SHARE = 3            # one upload in this many is sent chunked
SECRET_BYTES = 32
RSS_INTERVAL = 5.0
RSS_REL = 0.10
RSS_ABS = 8 * MIB
FAILURES_SHOWN = 10
CONN_TIMEOUT = 300
MIN_SECONDS = 15
SITE = "soak"
VAULT = "soak"
AES_KEY = "aes"
RSA_KEY = "rsa"
# (tenant, owner, [(member, role)])
TENANTS = [("contoso", "alice", [("bob", "user")]),
           ("fabrikam", "carol", [("dave", "admin")])]
OPS = [("put", 24), ("get", 20), ("range", 14), ("list", 6), ("versions", 6),
       ("delete", 4), ("wrap", 16), ("sign", 10)]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def content(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


class Failure(Exception):
    pass


class Stats:
    """Per-operation counters of one client (merged at the end)."""

    def __init__(self):
        self.ops = {}      # op -> [count, errors, bytes, seconds]
        self.reconnects = 0
        self.retries = 0

    def add(self, op, ok, nbytes, secs):
        s = self.ops.setdefault(op, [0, 0, 0, 0.0])
        s[0] += 1
        s[1] += 0 if ok else 1
        s[2] += nbytes
        s[3] += secs

    def merge(self, other):
        for op, v in other.ops.items():
            s = self.ops.setdefault(op, [0, 0, 0, 0.0])
            for i in range(4):
                s[i] += v[i]
        self.reconnects += other.reconnects
        self.retries += other.retries


class Shared:
    def __init__(self, daemon, tokens, deadline):
        self.d = daemon
        self.tokens = tokens
        self.deadline = deadline
        self.lock = threading.Lock()
        self.failures = []
        self.nfail = 0

    def fail(self, who, msg):
        with self.lock:
            self.nfail += 1
            if len(self.failures) < FAILURES_SHOWN:
                self.failures.append(f"{who}: {msg}")


class Client(threading.Thread):
    def __init__(self, shared, idx, principal, tenant, seed):
        super().__init__(name=f"client-{idx}", daemon=True)
        self.sh = shared
        self.idx = idx
        self.principal = principal
        self.token = shared.tokens[principal]
        self.tenant = tenant
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.conn = None
        self.used = 0            # requests completed on self.conn
        self.files = {}          # path -> dict(seed, size, sha, version, nver)
        self.next_name = 0
        self.base = f"/v1/tenants/{tenant}/sites/{SITE}"
        self.ctx = shared.d.context()

    # -- transport -------------------------------------------------------

    def connect(self):
        if self.conn is not None:
            self.conn.close()
            self.stats.reconnects += 1
        self.conn = http.client.HTTPSConnection(
            "127.0.0.1", self.sh.d.port, context=self.ctx,
            timeout=CONN_TIMEOUT)
        self.used = 0

    def request(self, method, path, body=None, raw=None, headers=None):
        """(status, headers dict (lower-case names), body bytes)."""
        hdrs = {"Authorization": f"Bearer {self.token}"}
        hdrs.update(headers or {})
        data, chunked = None, False
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            chunked = not isinstance(raw, (bytes, bytearray, memoryview))
        for attempt in (0, 1):
            if self.conn is None or self.conn.sock is None and self.used:
                # Never opened, or the server said Connection: close.
                self.connect()
            reused = self.used > 0
            try:
                self.conn.request(method, path, body=data, headers=hdrs,
                                  encode_chunked=chunked)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                # The server closed a kept-alive connection before it
                # answered: reopen and send once more (a chunked body
                # comes from a generator and cannot be replayed).
                self.connect()
                if attempt == 0 and reused and not chunked:
                    self.stats.retries += 1
                    continue
                raise Failure(f"{method} {path}: connection lost: {e!r}")
            self.used += 1
            rh = {k.lower(): v for k, v in resp.getheaders()}
            if resp.will_close:
                self.conn.close()
            return resp.status, rh, payload
        raise AssertionError("unreachable")

    def expect(self, what, status, want, payload):
        if status != want:
            raise Failure(f"{what}: HTTP {status}, expected {want}: "
                          f"{payload[:200]!r}")

    # -- operations ------------------------------------------------------

    def path_of(self, name):
        return f"c{self.idx:02d}/f{name}"

    def pick(self):
        if not self.files:
            return None
        return self.rng.choice(sorted(self.files))

    def op_put(self):
        older = sorted(p for p, f in self.files.items()
                       if f["nver"] < VERSIONS_PER_PATH)
        if older and (len(self.files) >= SLOTS_PER_CLIENT or
                      self.rng.random() < 0.5):
            path = self.rng.choice(older)      # a new version
        else:
            if len(self.files) >= SLOTS_PER_CLIENT:
                self.one("delete")             # make room (counted apart)
            path = self.path_of(self.next_name)
            self.next_name += 1
        size = int(math.exp(self.rng.uniform(math.log(MIN_FILE),
                                             math.log(MAX_FILE))))
        seed = self.rng.getrandbits(64)
        data = content(seed, size)
        sha = hashlib.sha256(data).digest()
        if self.rng.randrange(CHUNKED_SHARE) == 0:
            piece = self.rng.choice((4 * KIB, 64 * KIB, 1 * MIB))
            view = memoryview(data)
            raw = (view[i:i + piece] for i in range(0, size, piece))
        else:
            raw = data
        status, _, payload = self.request("PUT", f"{self.base}/files/{path}",
                                          raw=raw)
        self.expect(f"PUT {path} ({size} B)", status, 201, payload)
        res = json.loads(payload)
        old = self.files.get(path)
        nver = old["nver"] + 1 if old else 1
        if res.get("size") != size or (
                old is not None and res.get("version") != old["version"] + 1):
            raise Failure(f"PUT {path}: answer {res}, sent {size} B, "
                          f"previous {old and old['version']}")
        self.files[path] = dict(seed=seed, size=size, sha=sha,
                                version=res["version"], nver=nver)
        return size

    def op_get(self):
        path = self.pick()
        if path is None:
            return self.op_put()
        f = self.files[path]
        status, h, body = self.request("GET", f"{self.base}/files/{path}")
        self.expect(f"GET {path}", status, 200, body)
        if len(body) != f["size"] or hashlib.sha256(body).digest() != f["sha"]:
            raise Failure(f"GET {path}: {len(body)} B, expected {f['size']}, "
                          f"SHA-256 {'differs' if len(body) == f['size'] else '-'}")
        if h.get("x-rampart-version") != str(f["version"]):
            raise Failure(f"GET {path}: version {h.get('x-rampart-version')}, "
                          f"expected {f['version']}")
        return len(body)

    def op_range(self):
        path = self.pick()
        if path is None:
            return self.op_put()
        f = self.files[path]
        size = f["size"]
        a = self.rng.randrange(size)
        b = min(size - 1, a + self.rng.randrange(max(1, min(size, 2 * MIB))))
        status, h, body = self.request(
            "GET", f"{self.base}/files/{path}",
            headers={"Range": f"bytes={a}-{b}"})
        self.expect(f"GET {path} bytes={a}-{b}", status, 206, body)
        want = content(f["seed"], size)[a:b + 1]
        if h.get("content-range") != f"bytes {a}-{b}/{size}" or body != want:
            raise Failure(f"GET {path} bytes={a}-{b}: Content-Range "
                          f"{h.get('content-range')}, {len(body)} B, "
                          f"{'equal' if body == want else 'bytes differ'}")
        return len(body)

    def op_list(self):
        prefix = f"c{self.idx:02d}/"
        status, _, body = self.request(
            "GET", f"{self.base}/files?prefix={prefix}")
        self.expect(f"GET files?prefix={prefix}", status, 200, body)
        got = {e["path"]: (e["size"], e["versions"]) for e in json.loads(body)}
        want = {p: (f["size"], f["nver"]) for p, f in self.files.items()}
        if got != want:
            raise Failure(f"list {prefix}: {got}, expected {want}")
        return len(body)

    def op_versions(self):
        path = self.pick()
        if path is None:
            return self.op_put()
        f = self.files[path]
        status, _, body = self.request("GET", f"{self.base}/versions/{path}")
        self.expect(f"GET versions/{path}", status, 200, body)
        vs = json.loads(body)
        last = max(vs, key=lambda v: v["version"]) if vs else None
        if len(vs) != f["nver"] or last is None or last["size"] != f["size"] \
                or last["version"] != f["version"]:
            raise Failure(f"versions {path}: {vs}, expected {f['nver']} "
                          f"ending with v{f['version']} of {f['size']} B")
        return len(body)

    def op_delete(self):
        path = self.pick()
        if path is None or len(self.files) < 2:
            return self.op_put()
        status, _, body = self.request("DELETE", f"{self.base}/files/{path}")
        self.expect(f"DELETE {path}", status, 204, body)
        del self.files[path]
        status, _, body = self.request("GET", f"{self.base}/files/{path}")
        self.expect(f"GET {path} after DELETE", status, 404, body)
        return 0

    def op_wrap(self):
        key = self.rng.choice((AES_KEY, RSA_KEY))
        secret = os.urandom(SECRET_BYTES)
        k = f"/v1/vaults/{VAULT}/keys/{key}"
        status, _, body = self.request("POST", f"{k}/wrap",
                                       body={"value": b64(secret)})
        self.expect(f"wrap {key}", status, 200, body)
        wrapped = json.loads(body)["value"]
        status, _, body = self.request("POST", f"{k}/unwrap",
                                       body={"value": wrapped})
        self.expect(f"unwrap {key}", status, 200, body)
        if unb64(json.loads(body)["value"]) != secret:
            raise Failure(f"unwrap {key}: other bytes than were wrapped")
        return 0

    def op_sign(self):
        msg = os.urandom(self.rng.randrange(1, 4 * KIB))
        k = f"/v1/vaults/{VAULT}/keys/{RSA_KEY}"
        status, _, body = self.request("POST", f"{k}/sign",
                                       body={"value": b64(msg)})
        self.expect("sign", status, 200, body)
        sig = json.loads(body)["value"]
        status, _, body = self.request(
            "POST", f"{k}/verify", body={"value": b64(msg), "signature": sig})
        self.expect("verify", status, 200, body)
        if json.loads(body).get("valid") is not True:
            raise Failure(f"verify: a fresh signature is not valid: {body!r}")
        status, _, body = self.request(
            "POST", f"{k}/verify",
            body={"value": b64(msg + b"x"), "signature": sig})
        self.expect("verify (other message)", status, 200, body)
        if json.loads(body).get("valid") is not False:
            raise Failure(f"verify: a signature of other bytes is valid: "
                          f"{body!r}")
        return 0

    # -- loop --------------------------------------------------------------

    def one(self, op):
        t0 = time.monotonic()
        try:
            n = getattr(self, "op_" + op)()
            ok = True
        except Failure as e:
            self.sh.fail(self.name, str(e))
            ok, n = False, 0
        except Exception as e:  # noqa: BLE001 - every exception is counted
            self.sh.fail(self.name, f"{op}: {e!r}")
            ok, n = False, 0
            # The connection's state is unknown now.
            try:
                self.connect()
            except Exception:  # noqa: BLE001
                pass
        self.stats.add(op, ok, n, time.monotonic() - t0)

    def run(self):
        names = [o for o, _ in OPS]
        weights = [w for _, w in OPS]
        while time.monotonic() < self.sh.deadline:
            self.one(self.rng.choices(names, weights)[0])
        # Final check: every file this client holds, read back whole.
        for path in sorted(self.files):
            t0 = time.monotonic()
            try:
                f = self.files[path]
                status, _, body = self.request(
                    "GET", f"{self.base}/files/{path}")
                self.expect(f"final GET {path}", status, 200, body)
                if hashlib.sha256(body).digest() != f["sha"]:
                    raise Failure(f"final GET {path}: bytes differ")
                self.stats.add("final", True, len(body),
                               time.monotonic() - t0)
            except Exception as e:  # noqa: BLE001
                self.sh.fail(self.name, f"final: {e!r}"
                             if not isinstance(e, Failure) else str(e))
                self.stats.add("final", False, 0, time.monotonic() - t0)
        if self.conn is not None:
            self.conn.close()


class RssSampler(threading.Thread):
    def __init__(self, pid, t0):
        super().__init__(name="rss", daemon=True)
        self.pid = pid
        self.t0 = t0
        self.samples = []        # (seconds since t0, bytes)
        self.stop = threading.Event()

    def read(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * KIB
        raise RuntimeError("no VmRSS")

    def run(self):
        while True:
            try:
                self.samples.append((time.monotonic() - self.t0, self.read()))
            except (OSError, RuntimeError):
                return
            if self.stop.wait(RSS_INTERVAL):
                return


def setup(d):
    """Principals, group, tenants and members, the vault and its keys."""
    def ok(r, want, what):
        if r.status != want:
            raise RuntimeError(f"setup: {what}: {r}")
        return r

    tokens = {}
    for name in ("alice", "bob", "carol", "dave"):
        r = ok(d.request("POST", "/v1/principals", d.admin,
                         {"name": name, "admin": False}), 201,
               f"principal {name}")
        tokens[name] = r.json()["token"]
    ok(d.request("POST", "/v1/groups", d.admin, {"name": "clients"}), 201,
       "group")
    for name in tokens:
        ok(d.request("PUT", f"/v1/groups/clients/members/{name}", d.admin),
           204, f"group member {name}")
    owner_of = {}
    for tname, owner, members in TENANTS:
        ok(d.request("POST", "/v1/tenants", d.admin,
                     {"name": tname, "owner": owner}), 201, f"tenant {tname}")
        owner_of[owner] = tname
        for m, role in members:
            ok(d.request("PUT", f"/v1/tenants/{tname}/members/{m}",
                         tokens[owner], {"role": role}), 204,
               f"member {m} of {tname}")
            owner_of[m] = tname
    # A first file makes the site, so that a client's first listing (of
    # a prefix without files yet) is an empty list, not a 404.
    for tname, owner, _ in TENANTS:
        ok(d.request("PUT", f"/v1/tenants/{tname}/sites/{SITE}/files/setup",
                     tokens[owner], raw=b"site"), 201, f"site of {tname}")
    ok(d.request("POST", "/v1/vaults", d.admin, {"name": VAULT}), 201,
       "vault")
    ok(d.request("POST", f"/v1/vaults/{VAULT}/keys", d.admin,
                 {"name": AES_KEY, "kty": "aes-256"}), 201, "aes key")
    ok(d.request("POST", f"/v1/vaults/{VAULT}/keys", d.admin,
                 {"name": RSA_KEY, "kty": "rsa-2048"}), 201, "rsa key")
    ok(d.request("POST", f"/v1/vaults/{VAULT}/grants", d.admin,
                 {"subject": "group:clients",
                  "perms": ["wrap", "unwrap", "sign", "verify"]}), 204,
       "grant")
    return tokens, owner_of


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def mib(n):
    return f"{n / MIB:.1f} MiB"


def rss_verdict(samples, seconds):
    """(ok, lines) for the memory criterion (see the module docstring)."""
    third = seconds / 3
    second = [b for t, b in samples if third <= t < 2 * third]
    last = [b for t, b in samples if t >= 2 * third]
    after = second + last
    lines = []
    if samples:
        lines.append(f"rss samples: {len(samples)} every {RSS_INTERVAL:.0f} s;"
                     f" warm-up (first {third:.0f} s) max "
                     f"{mib(max([b for t, b in samples if t < third] or [0]))}")
    if not second or not last:
        lines.append("rss: too few samples after warm-up to judge "
                     "(run longer)")
        return False, lines
    lim = mean(second) * (1 + RSS_REL) + RSS_ABS
    ok = mean(last) <= lim
    lines.append(f"rss after warm-up: min {mib(min(after))}, max "
                 f"{mib(max(after))}")
    lines.append(f"rss mean second third {mib(mean(second))}, last third "
                 f"{mib(mean(last))}, bound {mib(lim)} "
                 f"(+{RSS_REL:.0%} + {mib(RSS_ABS)}): "
                 f"{'flat' if ok else 'GROWING'}")
    return ok, lines


def run_cli(d, args, token):
    env = dict(os.environ, RAMPART_TOKEN=token)
    env.pop("RAMPART_TOKEN_FILE", None)
    return subprocess.run([str(d.cli), *args, "--data", str(d.data)],
                          env=env, capture_output=True, text=True,
                          timeout=3600)


def main():
    seconds = int(os.environ.get("SOAK_SECONDS", "300"))
    nclients = int(os.environ.get("SOAK_CLIENTS", "64"))
    if seconds < MIN_SECONDS:
        sys.exit(f"soak: SOAK_SECONDS must be >= {MIN_SECONDS}")
    if nclients < 1:
        sys.exit("soak: SOAK_CLIENTS must be >= 1")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rampart-soak."))
    keep = os.environ.get("SOAK_KEEP") == "1"
    problems = []
    d = None
    try:
        d = Daemon(tmp).start()
        print(f"soak: rampartd pid {d.proc.pid} on port {d.port}, "
              f"{nclients} clients, {seconds} s, data {d.data}", flush=True)
        tokens, owner_of = setup(d)
        names = sorted(tokens)
        t0 = time.monotonic()
        sh = Shared(d, tokens, t0 + seconds)
        sampler = RssSampler(d.proc.pid, t0)
        sampler.start()
        master = random.Random(int.from_bytes(os.urandom(8), "big"))
        clients = []
        for i in range(nclients):
            p = names[i % len(names)]
            clients.append(Client(sh, i, p, owner_of[p],
                                  master.getrandbits(64)))
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        wall = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()

        total = Stats()
        for c in clients:
            total.merge(c.stats)
        print()
        print(f"{'op':<10} {'count':>8} {'errors':>7} {'MiB':>9} "
              f"{'ops/s':>8} {'mean ms':>8}")
        for op in [o for o, _ in OPS] + ["final"]:
            s = total.ops.get(op, [0, 0, 0, 0.0])
            print(f"{op:<10} {s[0]:>8} {s[1]:>7} {s[2] / MIB:>9.1f} "
                  f"{s[0] / wall:>8.1f} "
                  f"{(1000 * s[3] / s[0]) if s[0] else 0:>8.1f}")
        n_ops = sum(s[0] for s in total.ops.values())
        n_err = sum(s[1] for s in total.ops.values())
        print(f"{'total':<10} {n_ops:>8} {n_err:>7} "
              f"{sum(s[2] for s in total.ops.values()) / MIB:>9.1f} "
              f"{n_ops / wall:>8.1f}")
        print(f"wall {wall:.1f} s; reconnects {total.reconnects}, "
              f"retried requests {total.retries}")
        # A kept-alive connection the server closes just as a request
        # goes out is retried once; that may happen now and then (an
        # idle timeout racing the client), never for many requests.
        if total.retries > max(10, n_ops // 100):
            problems.append(f"{total.retries} requests had to be retried "
                            f"on a connection the server dropped")
        if sh.nfail:
            problems.append(f"{sh.nfail} failed operations")
            print(f"\nfirst {len(sh.failures)} of {sh.nfail} failures:")
            for f in sh.failures:
                print(f"  {f}")
        if n_ops == 0:
            problems.append("no operation completed")

        print()
        ok, lines = rss_verdict(sampler.samples, seconds)
        for line in lines:
            print(line)
        if not ok:
            problems.append("rampartd RSS not flat after warm-up")

        rc = d.stop(timeout=120)
        print(f"\nrampartd SIGTERM: exit {rc}")
        if rc != 0:
            problems.append(f"rampartd exited {rc} on SIGTERM")
        log = d.log_text()
        errors = [line for line in log.splitlines()
                  if '"level":"error"' in line]
        print(f"rampartd log: {len(log.splitlines())} lines, "
              f"{len(errors)} at level error")
        for line in errors[:FAILURES_SHOWN]:
            print(f"  {line[:300]}")
        if errors:
            problems.append(f"rampartd logged {len(errors)} errors")

        check = run_cli(d, ["store", "check", "--deep", "--json"], d.admin)
        try:
            report = json.loads(check.stdout)
        except ValueError:
            report = {}
        print(f"store check --deep: exit {check.returncode}, "
              f"ok {report.get('ok')}, versions {report.get('versions')}, "
              f"blobs {report.get('blobs')}, problems "
              f"{len(report.get('problems') or [])}, orphans "
              f"{len(report.get('orphans') or [])} (a DELETE leaves its "
              f"blobs to `store check --collect`; "
              f"{total.ops.get('delete', [0])[0]} DELETEs)")
        if check.returncode != 0 or report.get("ok") is not True or \
                report.get("problems"):
            problems.append("store check --deep not clean")
            print(f"  {check.stdout[:2000]}{check.stderr[:2000]}")
        audit = run_cli(d, ["audit", "verify", "--json"], d.admin)
        try:
            report = json.loads(audit.stdout)
        except ValueError:
            report = {}
        print(f"audit verify: exit {audit.returncode}, ok {report.get('ok')},"
              f" records {report.get('records')}, checkpoints "
              f"{report.get('checkpoints')}")
        if audit.returncode != 0 or report.get("ok") is not True:
            problems.append("audit verify not clean")
            print(f"  {audit.stdout[:2000]}{audit.stderr[:2000]}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"soak aborted: {e!r}")
    finally:
        if d is not None and d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        if keep or problems:
            print(f"\nkept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    if problems:
        print("soak: FAIL - " + "; ".join(problems))
        return 1
    print(f"soak: PASS - {seconds} s, {nclients} clients, no error, RSS flat,"
          " clean shutdown, store and audit chain consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
