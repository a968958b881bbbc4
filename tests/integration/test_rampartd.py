# SPDX-License-Identifier: Apache-2.0
"""rampartd end to end over HTTPS: every endpoint of the /v1 API, its
error paths, the roles and the cross-tenant denials, streaming uploads and
downloads with Range, the audit stream, TLS reload, graceful shutdown and
the limits."""
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time

import pytest

from daemonutil import Daemon, make_cert


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@pytest.fixture
def d(tmp_path):
    daemon = Daemon(tmp_path).start()
    yield daemon
    assert daemon.stop() == 0, daemon.log_text()


def principal(d, name, admin=False):
    r = d.request("POST", "/v1/principals", d.admin,
                  {"name": name, "admin": admin})
    assert r.status == 201, r
    return r.json()["token"]


def tenant(d, name, owner):
    r = d.request("POST", "/v1/tenants", d.admin,
                  {"name": name, "owner": owner})
    assert r.status == 201, r


def first_reply(d, data, timeout=10):
    """Send data (a request head, perhaps part of a body) on a TLS
    connection of its own; the first bytes the server answers with,
    without sending anything more."""
    with socket.create_connection(("127.0.0.1", d.port)) as sock:
        s = d.context().wrap_socket(sock, server_hostname="localhost")
        s.sendall(data)
        s.settimeout(timeout)
        head = s.recv(4096)
        s.close()
        return head


def test_health_ready_metrics(d):
    assert d.request("GET", "/healthz").json() == {"status": "ok"}
    assert d.request("GET", "/readyz").json() == {"status": "ready"}
    assert d.request("GET", "/v1/whoami", d.admin).status == 200
    r = d.request("GET", "/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    for name in ("rampart_http_requests_total",
                 "rampart_http_request_duration_seconds_bucket",
                 "rampart_http_bytes_received_total",
                 "rampart_key_operations_total",
                 "rampart_key_cache_hits_total",
                 "rampart_audit_wait_seconds_total",
                 "rampart_http_connections_open"):
        assert f"\n{name}" in text, name
    assert 'method="GET",route="/v1/whoami",code="2x"' in text
    assert 'rampart_http_route_info{method="PUT",route="/v1/tenants/{}/sites/{}/files/{*}"} 1' in text
    # Prometheus text format: every sample line is NAME{LABELS} VALUE.
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r'[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? '
                                r'[0-9.e+-]+', line), line


def test_authentication_and_generic_errors(d):
    r = d.request("GET", "/v1/whoami")
    assert (r.status, r.error_code()) == (401, "unauthenticated")
    r = d.request("GET", "/v1/whoami", "rpt_not-a-token")
    assert (r.status, r.error_code()) == (401, "unauthenticated")
    r = d.request("GET", "/v1/nothing", d.admin)
    assert (r.status, r.error_code()) == (404, "not_found")
    r = d.request("DELETE", "/v1/vaults", d.admin)
    assert (r.status, r.error_code()) == (405, "method_not_allowed")
    r = d.request("POST", "/v1/vaults", d.admin, raw=b"{not json",
                  headers={"Content-Type": "application/json"})
    assert (r.status, r.error_code()) == (400, "invalid")
    r = d.request("POST", "/v1/vaults", d.admin, {"name": "v", "bogus": 1})
    assert (r.status, r.error_code()) == (400, "invalid")
    assert "bogus" in r.json()["error"]["message"]
    # A declared body over the JSON limit is refused before it is sent.
    head = first_reply(d, b"POST /v1/vaults HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer " + d.admin.encode() +
                       b"\r\nContent-Type: application/json\r\n"
                       b"Expect: 100-continue\r\n"
                       b"Content-Length: 4194304\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    r = d.request("GET", "/v1/vaults/%zz", d.admin)
    assert r.status == 400, r
    # The request id is echoed; a client's valid id is kept.
    r = d.request("GET", "/v1/whoami", d.admin,
                  headers={"X-Request-Id": "trace-42"})
    assert r.header("X-Request-Id") == "trace-42"
    # Errors are JSON with the right content type.
    assert r.status == 200
    r = d.request("GET", "/v1/whoami")
    assert r.header("Content-Type") == "application/json"


def test_principals_groups_vaults_keys(d):
    alice = principal(d, "alice")
    bob = principal(d, "bob")
    r = d.request("POST", "/v1/principals", d.admin, {"name": "alice"})
    assert (r.status, r.error_code()) == (409, "exists")
    r = d.request("POST", "/v1/principals", alice, {"name": "eve"})
    assert (r.status, r.error_code()) == (403, "denied")
    names = [p["name"] for p in d.request("GET", "/v1/principals",
                                          d.admin).json()]
    assert {"admin", "alice", "bob"} <= set(names)
    assert d.request("POST", "/v1/groups", d.admin,
                     {"name": "ops"}).status == 201
    assert d.request("PUT", "/v1/groups/ops/members/bob", d.admin).status == 204
    groups = d.request("GET", "/v1/groups", d.admin).json()
    assert any(g["name"] == "ops" for g in groups)
    assert d.request("PUT", "/v1/groups/ops/members/nobody",
                     d.admin).status == 404

    r = d.request("POST", "/v1/vaults", d.admin,
                  {"name": "kv", "owner": "alice", "retention_days": 7,
                   "purge_protection": True})
    assert r.status == 201, r
    assert r.json()["name"] == "kv"
    assert d.request("GET", "/v1/vaults/kv", alice).status == 200
    r = d.request("GET", "/v1/vaults/kv", bob)
    assert r.status in (403, 404), r
    r = d.request("PATCH", "/v1/vaults/kv", alice, {"retention_days": 30})
    assert r.status == 200 and r.json()["retention_days"] == 30, r

    # Keys of every family.
    for name, kty in (("aes", "aes-256"), ("rsa", "rsa-2048"),
                      ("ec", "ec-p256"), ("ed", "ed25519"),
                      ("mac", "hmac-sha256")):
        r = d.request("POST", "/v1/vaults/kv/keys", alice,
                      {"name": name, "kty": kty})
        assert r.status == 201, (kty, r)
    r = d.request("POST", "/v1/vaults/kv/keys", alice,
                  {"name": "x", "kty": "rsa-1024"})
    assert (r.status, r.error_code()) == (400, "unsupported")
    r = d.request("POST", "/v1/vaults/kv/keys", alice,
                  {"name": "aes", "kty": "aes-256"})
    assert r.status == 409
    keys = [k["name"] for k in d.request("GET", "/v1/vaults/kv/keys",
                                         alice).json()]
    assert sorted(keys) == ["aes", "ec", "ed", "mac", "rsa"]
    show = d.request("GET", "/v1/vaults/kv/keys/rsa", alice).json()
    assert "BEGIN PUBLIC KEY" in show["pem"] and show["jwk"]["kty"] == "RSA"

    # wrap/unwrap with AES-KWP and RSA-OAEP; encrypt/decrypt; sign/verify.
    secret = os.urandom(32)
    for key in ("aes", "rsa"):
        w = d.request("POST", f"/v1/vaults/kv/keys/{key}/wrap", alice,
                      {"value": b64(secret)})
        assert w.status == 200, w
        u = d.request("POST", f"/v1/vaults/kv/keys/{key}/unwrap", alice,
                      {"value": w.json()["value"]})
        assert u.status == 200 and unb64(u.json()["value"]) == secret, u
        bad = bytearray(unb64(w.json()["value"]))
        bad[5] ^= 1
        u = d.request("POST", f"/v1/vaults/kv/keys/{key}/unwrap", alice,
                      {"value": b64(bytes(bad))})
        assert (u.status, u.error_code()) == (422, "auth_failed"), u
    e = d.request("POST", "/v1/vaults/kv/keys/aes/encrypt", alice,
                  {"value": b64(b"hello")})
    assert e.status == 200
    p = d.request("POST", "/v1/vaults/kv/keys/aes/decrypt", alice,
                  {"value": e.json()["value"]})
    assert unb64(p.json()["value"]) == b"hello"
    for key in ("rsa", "ec", "ed", "mac"):
        s = d.request("POST", f"/v1/vaults/kv/keys/{key}/sign", alice,
                      {"value": b64(b"message")})
        assert s.status == 200, (key, s)
        v = d.request("POST", f"/v1/vaults/kv/keys/{key}/verify", alice,
                      {"value": b64(b"message"),
                       "signature": s.json()["value"]})
        assert v.json()["valid"] is True, (key, v)
        v = d.request("POST", f"/v1/vaults/kv/keys/{key}/verify", alice,
                      {"value": b64(b"other"),
                       "signature": s.json()["value"]})
        assert v.status == 200 and v.json()["valid"] is False
    r = d.request("POST", "/v1/vaults/kv/keys/ec/wrap", alice,
                  {"value": b64(secret)})
    assert (r.status, r.error_code()) == (400, "invalid")
    r = d.request("POST", "/v1/vaults/kv/keys/aes/wrap", alice,
                  {"value": "not base64url!"})
    assert (r.status, r.error_code()) == (400, "parse")
    r = d.request("POST", "/v1/vaults/kv/keys/aes/frobnicate", alice, {})
    assert r.status == 404

    # Grants: bob has nothing until granted, then only what was granted.
    r = d.request("POST", "/v1/vaults/kv/keys/aes/wrap", bob,
                  {"value": b64(secret)})
    assert (r.status, r.error_code()) == (403, "denied")
    assert d.request("POST", "/v1/vaults/kv/grants", alice,
                     {"subject": "group:ops", "perms": ["wrap"]}).status == 204
    assert d.request("POST", "/v1/vaults/kv/keys/aes/wrap", bob,
                     {"value": b64(secret)}).status == 200
    r = d.request("POST", "/v1/vaults/kv/keys/aes/unwrap", bob,
                  {"value": b64(secret)})
    assert r.status == 403
    assert d.request("POST", "/v1/vaults/kv/revoke", alice,
                     {"subject": "group:ops", "perms": "wrap"}).status == 204
    assert d.request("POST", "/v1/vaults/kv/keys/aes/wrap", bob,
                     {"value": b64(secret)}).status == 403
    r = d.request("POST", "/v1/vaults/kv/grants", bob,
                  {"subject": "bob", "perms": ["all"]})
    assert r.status == 403

    # Rotate, versions, attributes, backup, delete, recover, purge refused.
    r = d.request("POST", "/v1/vaults/kv/keys/aes/rotate", alice)
    assert r.status == 200 and r.json()["current_version"] == 2, r
    vs = d.request("GET", "/v1/vaults/kv/keys/aes/versions", alice).json()
    assert len(vs) == 2
    assert d.request("GET", "/v1/vaults/kv/keys/aes?version=1",
                     alice).status == 200
    assert d.request("PATCH", "/v1/vaults/kv/keys/aes", alice,
                     {"enabled": False}).status == 204
    r = d.request("POST", "/v1/vaults/kv/keys/aes/wrap", alice,
                  {"value": b64(secret)})
    assert (r.status, r.error_code()) == (409, "state")
    assert d.request("PATCH", "/v1/vaults/kv/keys/aes", alice,
                     {"enabled": True, "ops": ["wrap", "unwrap"]}).status == 204
    # "all": the key type's operations, resolved by the vault
    assert d.request("PATCH", "/v1/vaults/kv/keys/aes", alice,
                     {"ops": "all"}).status == 204
    assert d.request("GET", "/v1/vaults/kv/keys/aes", alice).json()["ops"] == \
        ["wrap", "unwrap", "encrypt", "decrypt"]
    assert d.request("PATCH", "/v1/vaults/kv/keys/aes", alice,
                     {"ops": ["wrap", "unwrap"]}).status == 204
    assert d.request("PATCH", "/v1/vaults/kv/keys/aes", alice,
                     {}).status == 400
    backup = d.request("POST", "/v1/vaults/kv/keys/aes/backup", alice)
    assert backup.status == 200 and len(unb64(backup.json()["backup"])) > 32
    assert d.request("DELETE", "/v1/vaults/kv/keys/aes", alice).status == 204
    assert d.request("GET", "/v1/vaults/kv/keys/aes", alice).status == 404
    deleted = d.request("GET", "/v1/vaults/kv/keys?deleted=true", alice).json()
    assert [k["name"] for k in deleted] == ["aes"]
    r = d.request("POST", "/v1/vaults/kv/keys/aes/purge", alice)
    assert r.status == 403, r  # purge protection and retention hold
    r = d.request("POST", "/v1/vaults/kv/keys/restore", alice,
                  {"backup": backup.json()["backup"]})
    assert r.status == 409, r  # the name is still held
    assert d.request("POST", "/v1/vaults/kv/keys/aes/recover",
                     alice).status == 204
    assert d.request("POST", "/v1/vaults/kv/keys/aes/wrap", alice,
                     {"value": b64(secret)}).status == 200

    # Import a PEM key.
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "EC",
                          "-pkeyopt", "ec_paramgen_curve:P-256"],
                         check=True, capture_output=True, text=True).stdout
    r = d.request("POST", "/v1/vaults/kv/keys/import", alice,
                  {"name": "imported", "format": "pem", "data": pem})
    assert r.status == 201 and r.json()["kty"] == "ec-p256", r
    r = d.request("POST", "/v1/vaults/kv/keys/import", alice,
                  {"name": "bad", "format": "pem", "data": "-----BEGIN x"})
    assert (r.status, r.error_code()) == (400, "parse"), r
    r = d.request("POST", "/v1/maintain", d.admin)
    assert r.status == 200 and "rotated" in r.json()
    assert d.request("POST", "/v1/maintain", alice).status == 403


def test_audit_read_verify_stream(d):
    alice = principal(d, "alice")
    r = d.request("GET", "/v1/audit?limit=5", d.admin)
    assert r.status == 200 and 1 <= len(r.json()) <= 5
    assert d.request("GET", "/v1/audit", alice).status == 403
    assert d.request("GET", "/v1/audit?limit=0", d.admin).status == 400
    assert d.request("GET", "/v1/audit?after=x", d.admin).status == 400
    v = d.request("POST", "/v1/audit/verify", d.admin)
    assert v.status == 200 and v.json()["ok"] is True
    last = d.request("GET", "/v1/audit?limit=10000", d.admin).json()[-1]["seq"]

    seen = []
    conn = d.connection(timeout=20)
    conn.request("GET", f"/v1/audit/stream?after={last}",
                 headers={"Authorization": f"Bearer {d.admin}"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/x-ndjson"

    def reader():
        while len(seen) < 1:
            line = resp.fp.readline()
            if not line:
                return
            line = line.strip()
            if line.isdigit() or not line:
                continue  # chunk sizes and heartbeats
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("op") == "principal.create":
                seen.append(rec)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    principal(d, "bob")
    t.join(timeout=10)
    conn.close()
    assert seen and seen[0]["detail"].find("bob") >= 0, seen
    assert d.request("GET", "/v1/audit/stream", alice).status == 403


def test_tenants_files_ranges(d):
    alice = principal(d, "alice")
    bob = principal(d, "bob")
    tenant(d, "contoso", "alice")
    r = d.request("POST", "/v1/tenants", alice, {"name": "x"})
    assert r.status == 403
    assert [t["name"] for t in d.request("GET", "/v1/tenants",
                                         alice).json()] == ["contoso"]
    assert d.request("GET", "/v1/tenants", bob).json() == []
    assert d.request("PUT", "/v1/tenants/contoso/members/bob", alice,
                     {"role": "user"}).status == 204
    assert d.request("PUT", "/v1/tenants/contoso/members/bob", alice,
                     {"role": "king"}).status == 400
    members = d.request("GET", "/v1/tenants/contoso/members", alice).json()
    assert {"principal": "bob", "role": "user"}.items() <= members[1].items()

    base = "/v1/tenants/contoso/sites/docs"
    data = os.urandom((3 << 20) + 4321)
    r = d.request("PUT", f"{base}/files/a/b%20c.bin", bob, raw=data)
    assert r.status == 201 and r.json() == {"version": 1, "size": len(data)}, r
    # Chunked upload of a second version.
    data2 = data[:1000] + b"inserted" + data[1000:]
    chunks = (data2[i:i + 65536] for i in range(0, len(data2), 65536))
    r = d.request("PUT", f"{base}/files/a/b%20c.bin", bob, raw=chunks)
    assert r.status == 201 and r.json()["version"] == 2, r
    # Empty file.
    assert d.request("PUT", f"{base}/files/empty", bob,
                     raw=b"").status == 201
    r = d.request("GET", f"{base}/files/empty", bob)
    assert r.status == 200 and r.body == b""

    r = d.request("GET", f"{base}/files/a/b%20c.bin", bob)
    assert r.status == 200 and r.body == data2
    assert r.header("X-Rampart-Version") == "2"
    assert r.header("Accept-Ranges") == "bytes"
    r = d.request("GET", f"{base}/files/a/b%20c.bin?version=1", bob)
    assert r.body == data
    r = d.request("HEAD", f"{base}/files/a/b%20c.bin", bob)
    assert r.status == 200 and r.body == b""
    assert int(r.header("Content-Length")) == len(data2)
    for rng, (lo, hi) in (("bytes=0-0", (0, 0)),
                          ("bytes=100-199", (100, 199)),
                          ("bytes=1048570-2097160", (1048570, 2097160)),
                          (f"bytes={len(data2) - 10}-", (len(data2) - 10,
                                                         len(data2) - 1)),
                          ("bytes=-7", (len(data2) - 7, len(data2) - 1)),
                          ("bytes=5-999999999", (5, len(data2) - 1))):
        r = d.request("GET", f"{base}/files/a/b%20c.bin", bob,
                      headers={"Range": rng})
        assert r.status == 206, (rng, r)
        assert r.body == data2[lo:hi + 1], rng
        assert r.header("Content-Range") == f"bytes {lo}-{hi}/{len(data2)}"
    r = d.request("GET", f"{base}/files/a/b%20c.bin", bob,
                  headers={"Range": f"bytes={len(data2)}-"})
    assert r.status == 416 and r.header("Content-Range") == f"bytes */{len(data2)}"
    r = d.request("GET", f"{base}/files/a/b%20c.bin", bob,
                  headers={"Range": "bytes=0-1,5-6"})
    assert r.status == 200 and r.body == data2  # several ranges: whole file

    listing = d.request("GET", f"{base}/files", bob).json()
    assert sorted(f["path"] for f in listing) == ["a/b c.bin", "empty"]
    listing = d.request("GET", f"{base}/files?prefix=a/", bob).json()
    assert [f["path"] for f in listing] == ["a/b c.bin"]
    vs = d.request("GET", f"{base}/versions/a/b%20c.bin", bob).json()
    assert [v["version"] for v in vs] == [1, 2]
    r = d.request("GET", f"{base}/files/missing", bob)
    assert (r.status, r.error_code()) == (404, "not_found")
    r = d.request("GET", f"{base}/files/a/..%2Fx", bob)
    assert r.status == 400
    r = d.request("GET", f"{base}/files/a/../x", bob)
    assert r.status in (400, 404)
    assert d.request("DELETE", f"{base}/files/empty", bob).status == 204
    assert d.request("GET", f"{base}/files/empty", bob).status == 404
    # The operator has no standing access to the content.
    assert d.request("GET", f"{base}/files/a/b%20c.bin",
                     d.admin).status == 403
    # A user cannot manage the tenant; the owner reads its audit.
    assert d.request("GET", "/v1/tenants/contoso/deps", bob).status == 403
    assert d.request("GET", "/v1/tenants/contoso/deps", alice).status == 200
    audit = d.request("GET", "/v1/tenants/contoso/audit?limit=1000",
                      alice).json()
    assert any(a["op"] == "file.put" and a["principal"] == "bob"
               for a in audit)
    assert all(a["tenant"] == "contoso" for a in audit)
    check = d.request("POST", "/v1/store/check", d.admin, {"deep": True})
    assert check.status == 200, check
    assert d.request("POST", "/v1/store/check", alice, {}).status == 403


def test_dep_endpoints(d):
    alice = principal(d, "alice")
    tenant(d, "contoso", "alice")
    for v in ("cv1", "cv2"):
        assert d.request("POST", "/v1/vaults", d.admin,
                         {"name": v, "owner": "alice",
                          "purge_protection": True}).status == 201
        assert d.request("POST", f"/v1/vaults/{v}/keys", alice,
                         {"name": "root", "kty": "rsa-2048"}).status == 201
    r = d.request("POST", "/v1/tenants/contoso/deps", alice,
                  {"name": "ck", "roots": ["cv1/root", "cv2/root"]})
    assert (r.status, r.error_code()) == (400, "invalid"), r
    assert "grant" in r.json()["error"]["message"] or \
        "service" in r.json()["error"]["message"], r
    for v in ("cv1", "cv2"):
        assert d.request("POST", f"/v1/vaults/{v}/grants", alice,
                         {"subject": "rampart-service",
                          "perms": "get,wrap,unwrap"}).status == 204
    r = d.request("POST", "/v1/tenants/contoso/deps", alice,
                  {"name": "ck", "roots": ["cv1/root"]})
    assert r.status == 400
    r = d.request("POST", "/v1/tenants/contoso/deps", alice,
                  {"name": "ck", "roots": ["cv1/root", "cv2/root"]})
    assert r.status == 201, r
    assert d.request("POST", "/v1/tenants/contoso/deps/ck/assign",
                     alice).status == 204
    data = os.urandom(100000)
    base = "/v1/tenants/contoso/sites/s/files/f"
    assert d.request("PUT", base, alice, raw=data).status == 201
    assert d.request("POST", "/v1/vaults/cv1/keys/root/rotate",
                     alice).status == 200
    assert d.request("POST", "/v1/tenants/contoso/deps/ck/roll",
                     alice).status == 204
    assert d.request("GET", base, alice).body == data
    deps = d.request("GET", "/v1/tenants/contoso/deps", alice).json()
    assert any(x["name"] == "ck" for x in deps)
    r = d.request("POST", "/v1/tenants/contoso/deps/ck/purge", alice,
                  {"confirm": "contoso/ck"})
    assert (r.status, r.error_code()) == (409, "state"), r
    r = d.request("POST", "/v1/tenants/contoso/deps/ck/recover", alice,
                  {"to": "default"})
    assert r.status == 403, r  # operators only
    r = d.request("POST", "/v1/tenants/contoso/deps/ck/explode", alice, {})
    assert r.status == 404


def test_cross_tenant_denials(d):
    """Every tenant-scoped endpoint, tried with another tenant's admin and
    user tokens: none reaches contoso."""
    alice = principal(d, "alice")
    mallory = principal(d, "mallory")
    mal_user = principal(d, "maluser")
    tenant(d, "contoso", "alice")
    tenant(d, "fabrikam", "mallory")
    assert d.request("PUT", "/v1/tenants/fabrikam/members/maluser", mallory,
                     {"role": "user"}).status == 204
    base = "/v1/tenants/contoso/sites/docs"
    assert d.request("PUT", f"{base}/files/secret.txt", alice,
                     raw=b"contoso only").status == 201
    endpoints = [
        ("GET", "/v1/tenants/contoso/members", None),
        ("PUT", "/v1/tenants/contoso/members/mallory", {"role": "admin"}),
        ("DELETE", "/v1/tenants/contoso/members/alice", None),
        ("GET", "/v1/tenants/contoso/audit", None),
        ("GET", "/v1/tenants/contoso/deps", None),
        ("POST", "/v1/tenants/contoso/deps", {"name": "x",
                                              "roots": ["a/b", "c/d"]}),
        ("POST", "/v1/tenants/contoso/deps/default/assign", {}),
        ("POST", "/v1/tenants/contoso/deps/default/roll", {}),
        ("POST", "/v1/tenants/contoso/deps/default/purge",
         {"confirm": "contoso/default"}),
        ("POST", "/v1/tenants/contoso/deps/default/recover", {"to": "x"}),
        ("GET", f"{base}/files", None),
        ("GET", f"{base}/files/secret.txt", None),
        ("HEAD", f"{base}/files/secret.txt", None),
        ("PUT", f"{base}/files/secret.txt", b"overwrite"),
        ("PUT", f"{base}/files/new.txt", b"plant"),
        ("DELETE", f"{base}/files/secret.txt", None),
        ("GET", f"{base}/versions/secret.txt", None),
    ]
    for token in (mallory, mal_user):
        for method, path, body in endpoints:
            kw = {}
            if isinstance(body, bytes):
                kw["raw"] = body
            elif body is not None:
                kw["body"] = body
            r = d.request(method, path, token, **kw)
            assert r.status in (403, 404), (method, path, r)
            assert b"contoso only" not in r.body
    # Nothing changed.
    r = d.request("GET", f"{base}/files/secret.txt", alice)
    assert r.body == b"contoso only" and r.header("X-Rampart-Version") == "1"
    assert [f["path"] for f in d.request("GET", f"{base}/files",
                                         alice).json()] == ["secret.txt"]
    names = [m["principal"] for m in d.request(
        "GET", "/v1/tenants/contoso/members", alice).json()]
    assert names == ["alice"]
    # The tenant list shows each its own.
    assert [t["name"] for t in d.request("GET", "/v1/tenants",
                                         mallory).json()] == ["fabrikam"]


def test_secrets_stay_out_of_the_log(d):
    alice = principal(d, "alice")
    assert d.request("POST", "/v1/vaults", d.admin,
                     {"name": "kv", "owner": "alice"}).status == 201
    assert d.request("POST", "/v1/vaults/kv/keys", alice,
                     {"name": "k", "kty": "aes-256"}).status == 201
    secret = os.urandom(32)
    w = d.request("POST", "/v1/vaults/kv/keys/k/wrap", alice,
                  {"value": b64(secret)}).json()["value"]
    r = d.request("POST", "/v1/vaults/kv/keys/k/unwrap", alice, {"value": w})
    assert r.status == 200 and r.json()["value"] == b64(secret), r
    assert d.request("GET", "/v1/whoami",
                     "rpt_wrong-token-value").status == 401
    log = d.log_text()
    for needle in (alice, d.admin, b64(secret), secret.hex(), w,
                   "rpt_wrong-token-value"):
        assert needle not in log
    # every line is one JSON object; the requests above were logged
    recs = [json.loads(line) for line in log.splitlines()]
    logged = [(r["method"], r["route"], r["status"]) for r in recs
              if r.get("msg") == "request"]
    assert logged[-3:] == [("POST", "/v1/vaults/{}/keys/{}/{}", 200),
                           ("POST", "/v1/vaults/{}/keys/{}/{}", 200),
                           ("GET", "/v1/whoami", 401)], logged


def test_limits_slow_header_and_oversized_head(tmp_path):
    d = Daemon(tmp_path, ["--header-timeout-ms", "500",
                          "--max-connections", "8"]).start()
    try:
        ctx = d.context()
        raw = socket.create_connection(("127.0.0.1", d.port))
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        data = b""
        s.settimeout(10)
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ssl.SSLError, ConnectionError):
            pass
        assert time.time() - t0 < 5
        assert data == b"" or data.startswith(b"HTTP/1.1 408")
        s.close()
        r = d.request("GET", "/healthz",
                      headers={"X-Big": "a" * (20 << 10)})
        assert r.status == 431, r
        # The 9th..nth concurrent connection is refused, not queued.
        conns = []
        for _ in range(8):
            c = ctx.wrap_socket(socket.create_connection(("127.0.0.1",
                                                          d.port)),
                                server_hostname="localhost")
            conns.append(c)
        extra = d.request("GET", "/healthz")
        assert extra.status == 503, extra
        for c in conns:
            c.close()
    finally:
        assert d.stop() == 0


def test_tls_versions_and_reload(tmp_path):
    d = Daemon(tmp_path).start()
    try:
        old = ssl.create_default_context(cafile=str(d.cert))
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.minimum_version = ssl.TLSVersion.TLSv1
        try:
            old.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with socket.create_connection(("127.0.0.1", d.port)) as raw:
                old.wrap_socket(raw, server_hostname="localhost")
        # A keep-alive connection survives a reload; new ones get the new
        # certificate.
        keep = d.connection()
        assert d.request("GET", "/healthz", conn=keep).status == 200
        first = ssl.get_server_certificate(("127.0.0.1", d.port))
        new_cert, new_key = make_cert(tmp_path, "new", cn="renewed")
        os.replace(new_cert, d.cert)
        os.replace(new_key, d.key)
        d.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            if ssl.get_server_certificate(("127.0.0.1", d.port)) != first:
                break
            time.sleep(0.1)
        else:
            pytest.fail("SIGHUP did not reload the certificate")
        assert d.request("GET", "/healthz", conn=keep).status == 200
        keep.close()
        # A broken key on reload keeps the old material.
        d.key.write_text("not a key")
        d.signal(signal.SIGHUP)
        time.sleep(0.5)
        assert d.request("GET", "/healthz").status == 200
        assert "tls reload failed" in d.log_text()
    finally:
        assert d.stop() == 0


def test_idle_connections_cannot_use_up_the_descriptors(tmp_path):
    """Under the common open-file limit of 1024 (systemd's soft default,
    here the hard limit too), a flood of idle connections that sends no
    token gets the 503 of max_connections or is closed at accept: it does
    not take the descriptors the stores need, so a client already
    connected can still read and write its files."""
    import resource
    nofile = 1024
    flood = 1200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < flood + 64:
        if hard != resource.RLIM_INFINITY and hard < flood + 64:
            pytest.skip("the test needs more descriptors than it may open")
        resource.setrlimit(resource.RLIMIT_NOFILE, (flood + 64, hard))
    d = Daemon(tmp_path)
    d.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                           (nofile, nofile))
    d.start()
    socks = []
    try:
        alice = principal(d, "alice")
        tenant(d, "contoso", "alice")
        path = "/v1/tenants/contoso/sites/s/files/"
        conn = d.connection()
        r = d.request("PUT", path + "a", alice, raw=b"a" * 100000, conn=conn)
        assert r.status == 201, r
        for _ in range(flood):
            socks.append(socket.create_connection(("127.0.0.1", d.port)))
        time.sleep(1)
        r = d.request("GET", path + "a", alice, conn=conn)
        assert (r.status, r.body) == (200, b"a" * 100000), r
        r = d.request("PUT", path + "b", alice, raw=b"b" * 100000, conn=conn)
        assert r.status == 201, r
        conn.close()
        assert "max_connections" in d.log_text()
    finally:
        for s in socks:
            s.close()
        assert d.stop() == 0


def test_port_file_does_not_follow_a_planted_symlink(tmp_path):
    """The port file is written through PORT_FILE.tmp-PID: a symlink put
    there beforehand (a shared directory, a predictable pid) must not make
    rampartd overwrite the file it points to."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    d = Daemon(tmp_path)
    d.preexec = lambda: os.symlink(victim,
                                   f"{d.port_file}.tmp-{os.getpid()}")
    d.start()
    try:
        assert victim.read_text() == "precious\n"
        assert d.request("GET", "/healthz").status == 200
        assert not d.port_file.is_symlink()
    finally:
        assert d.stop() == 0


def test_passphrase_fifo_fails_instead_of_hanging(tmp_path):
    """A FIFO as passphrase_file is refused at once (it is not a regular
    file), not waited on until someone writes to it."""
    d = Daemon(tmp_path, init=False)
    pw = tmp_path / "pw"
    pw.write_text("a long and winding passphrase\n")
    subprocess.run([str(d.cli), "init", "--data", str(d.data),
                    "--passphrase", "--passphrase-file", str(pw)],
                   check=True, capture_output=True)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = subprocess.run([str(d.bin), "--data", str(d.data), "--listen",
                        "127.0.0.1:0", "--cert", str(d.cert), "--key",
                        str(d.key), "--passphrase-file", str(fifo)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "cannot read the passphrase file" in r.stdout


def test_graceful_shutdown_finishes_downloads(tmp_path):
    d = Daemon(tmp_path).start()
    alice = principal(d, "alice")
    tenant(d, "contoso", "alice")
    data = os.urandom(24 << 20)
    path = "/v1/tenants/contoso/sites/s/files/big"
    assert d.request("PUT", path, alice, raw=data).status == 201
    conn = d.connection()
    conn.request("GET", path, headers={"Authorization": f"Bearer {alice}"})
    resp = conn.getresponse()
    first = resp.read(65536)
    d.signal(signal.SIGTERM)
    time.sleep(0.3)
    rest = resp.read()
    assert first + rest == data
    conn.close()
    assert d.proc.wait(timeout=30) == 0
    assert '"msg":"stopped"' in d.log_text()


def test_config_file_and_bad_flags(tmp_path):
    d = Daemon(tmp_path)
    conf = tmp_path / "rampartd.conf"
    conf.write_text("# test\nworkers = 4\nlog_level = warn\n"
                    "max_upload_bytes = 1000\n")
    d.extra_args = ["--config", str(conf)]
    d.start()
    try:
        alice = principal(d, "alice")
        tenant(d, "contoso", "alice")
        r = d.request("PUT", "/v1/tenants/contoso/sites/s/files/f", alice,
                      raw=b"x" * 5000)
        assert (r.status, r.error_code()) == (413, "too_large"), r
        assert d.request("PUT", "/v1/tenants/contoso/sites/s/files/f", alice,
                         raw=b"x" * 1000).status == 201
        assert '"msg":"request"' not in d.log_text()  # log_level = warn
    finally:
        assert d.stop() == 0
    conf.write_text("workers = 4\nfrobnicate = 1\n")
    r = subprocess.run([str(d.bin), "--config", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 64 and "2: frobnicate: unknown key" in r.stderr
    r = subprocess.run([str(d.bin), "--workers", "0"], capture_output=True,
                       text=True)
    assert r.returncode == 64
    r = subprocess.run([str(d.bin), "--passphrase", "hunter2"],
                       capture_output=True, text=True)
    assert r.returncode == 64 and "hunter2" not in r.stderr
    r = subprocess.run([str(d.bin), "--data", str(tmp_path / "none"),
                        "--listen", "127.0.0.1:0"], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "cannot open the store" in r.stdout


def test_sslscan_only_modern_tls(d):
    """sslscan sees TLS 1.2 and 1.3 only, and only forward-secret AEAD
    suites (ECDHE with GCM or ChaCha20-Poly1305; TLS 1.3 suites are all
    both)."""
    out = subprocess.run(["sslscan", "--no-colour", "--no-heartbleed",
                          f"127.0.0.1:{d.port}"], capture_output=True,
                         text=True, timeout=300).stdout
    protocols = dict(re.findall(r"^(SSLv[23]|TLSv1\.[0-3])\s+(enabled|disabled)$", out,
                                re.M))
    assert protocols.get("TLSv1.2") == "enabled", out
    assert protocols.get("TLSv1.3") == "enabled", out
    for old in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
        assert protocols.get(old, "disabled") == "disabled", out
    ciphers = re.findall(
        r"^(?:Preferred|Accepted)\s+(TLSv1\.[0-3])\s+\d+ bits\s+(\S+)",
        out, re.M)
    assert ciphers, out
    for proto, name in ciphers:
        assert proto in ("TLSv1.2", "TLSv1.3"), (proto, name)
        if proto == "TLSv1.2":
            assert name.startswith("ECDHE-"), name
            assert "GCM" in name or "CHACHA20" in name, name
        else:
            assert name in ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256",
                            "TLS_CHACHA20_POLY1305_SHA256"), name


def make_client_ca(tmp_path):
    """A CA and a client certificate it signed (openssl CLI)."""
    ca_key, ca = tmp_path / "ca-key.pem", tmp_path / "ca.pem"
    key, csr, cert = (tmp_path / "client-key.pem", tmp_path / "client.csr",
                      tmp_path / "client.pem")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
        "/CN=test client CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign",
        "-keyout", str(ca_key), "-out", str(ca))
    run("openssl", "req", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=client",
        "-keyout", str(key), "-out", str(csr))
    # The extensions come on a pipe of their own: an inherited standard
    # input (whatever the test runner was given) made this fail at times.
    subprocess.run(("openssl", "x509", "-req", "-in", str(csr), "-CA",
                    str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
                    "-days", "2", "-extfile", "/dev/stdin", "-out",
                    str(cert)),
                   input=b"extendedKeyUsage = clientAuth\n", check=True,
                   capture_output=True)
    return ca, cert, key


def test_mutual_tls_required(tmp_path):
    ca, cert, key = make_client_ca(tmp_path)
    d = Daemon(tmp_path, ["--client-ca", str(ca),
                          "--client-cert-required", "true"]).start()
    try:
        r = d.request("GET", "/v1/whoami", d.admin)
        assert (r.status, r.error_code()) == (401, "unauthenticated"), r
        assert "client certificate" in r.json()["error"]["message"]
        assert d.request("GET", "/healthz").status == 200
        ctx = d.context()
        ctx.load_cert_chain(str(cert), str(key))
        conn = http.client.HTTPSConnection("127.0.0.1", d.port, context=ctx,
                                           timeout=30)
        r = d.request("GET", "/v1/whoami", d.admin, conn=conn)
        assert r.status == 200, r
        r = d.request("GET", "/v1/whoami", conn=conn)
        assert r.status == 401  # the certificate does not replace the token
        conn.close()
        # A certificate from another CA fails the handshake.
        other_cert, other_key = make_cert(tmp_path, "other", cn="intruder")
        bad = d.context()
        bad.load_cert_chain(str(other_cert), str(other_key))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            c = http.client.HTTPSConnection("127.0.0.1", d.port, context=bad,
                                            timeout=30)
            c.request("GET", "/healthz")
            c.getresponse().read()
    finally:
        assert d.stop() == 0
    r = subprocess.run([str(d.bin), "--client-cert-required", "true"],
                       capture_output=True, text=True)
    assert r.returncode == 64 and "needs client_ca" in r.stderr


def test_large_key_operation_bodies(d):
    """Key operations take values up to the library's 1 MiB limit, though
    base64url makes the JSON body a third larger than other bodies may be."""
    alice = principal(d, "alice")
    assert d.request("POST", "/v1/vaults", d.admin,
                     {"name": "kv", "owner": "alice"}).status == 201
    assert d.request("POST", "/v1/vaults/kv/keys", alice,
                     {"name": "k", "kty": "aes-256"}).status == 201
    data = os.urandom(1 << 20)
    e = d.request("POST", "/v1/vaults/kv/keys/k/encrypt", alice,
                  {"value": b64(data)})
    assert e.status == 200, e
    p = d.request("POST", "/v1/vaults/kv/keys/k/decrypt", alice,
                  {"value": e.json()["value"]})
    assert p.status == 200 and unb64(p.json()["value"]) == data
    r = d.request("POST", "/v1/vaults/kv/keys/k/encrypt", alice,
                  {"value": b64(data + b"x")})
    assert (r.status, r.error_code()) == (413, "too_large"), r


def writable_memory(pid):
    """Yield the bytes of every writable mapping of process pid (heap,
    stacks, anonymous mappings), read through /proc/PID/mem. Reservations
    of 64 GiB or more (a sanitizer's shadow memory) are not data and are
    left out."""
    with open(f"/proc/{pid}/maps") as maps:
        lines = maps.read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in lines:
            parts = line.split()
            if "w" not in parts[1]:
                continue
            if len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if hi - lo >= 64 << 30:
                continue
            try:
                mem.seek(lo)
                yield mem.read(hi - lo)
            except OSError:
                pass  # a guard page or a mapping that went away


def test_key_operation_values_are_wiped_from_memory(d):
    """What goes through the daemon to and from a key operation (a value
    to wrap, an unwrapped key, a plaintext) is not left behind in its
    memory once the answers are out: the request body, its JSON, the
    answer and the TLS records are wiped when freed. The vault's own
    secret memory holds keys, never these values."""
    alice = principal(d, "alice")
    assert d.request("POST", "/v1/vaults", d.admin,
                     {"name": "kv", "owner": "alice"}).status == 201
    assert d.request("POST", "/v1/vaults/kv/keys", alice,
                     {"name": "aes", "kty": "aes-256"}).status == 201
    secrets = [os.urandom(32) for _ in range(8)]
    conn = d.connection()
    for secret in secrets:
        w = d.request("POST", "/v1/vaults/kv/keys/aes/wrap", alice,
                      {"value": b64(secret)}, conn=conn)
        assert w.status == 200, w
        u = d.request("POST", "/v1/vaults/kv/keys/aes/unwrap", alice,
                      {"value": w.json()["value"]}, conn=conn)
        assert unb64(u.json()["value"]) == secret, u
        e = d.request("POST", "/v1/vaults/kv/keys/aes/encrypt", alice,
                      {"value": b64(secret)}, conn=conn)
        assert e.status == 200, e
    # And a file's contents, up and down (in several chunks).
    tenant(d, "contoso", "alice")
    content = os.urandom((2 << 20) + 777)
    url = "/v1/tenants/contoso/sites/docs/files/f.bin"
    assert d.request("PUT", url, alice, raw=content,
                     conn=conn).status == 201
    r = d.request("GET", url, alice, conn=conn)
    assert r.status == 200 and r.body == content
    secrets += [content[i:i + 32] for i in range(0, len(content), 1 << 18)]
    conn.close()
    # Let the connection's close be handled.
    time.sleep(0.5)
    assert d.request("GET", "/healthz").status == 200
    forms = []
    for i, secret in enumerate(secrets):
        forms += [(i, "raw", secret), (i, "base64url", b64(secret).encode()),
                  (i, "base64", base64.b64encode(secret).rstrip(b"=")),
                  (i, "hex", secret.hex().encode())]
    scanned = 0
    # rampartd is not dumpable, so its /proc files are root's: only a
    # test run without root cannot look (and says so); as root, a refusal
    # is a failure, not a skip.
    if os.geteuid() != 0:
        try:
            open(f"/proc/{d.proc.pid}/mem", "rb").close()
        except PermissionError:
            pytest.skip("rampartd is not dumpable: reading its memory "
                        "needs root (CAP_SYS_PTRACE)")
    for region in writable_memory(d.proc.pid):
        scanned += len(region)
        for i, name, form in forms:
            found = region.find(form) >= 0
            assert not found, \
                f"value {i} found in rampartd's memory ({name})"
    assert scanned > 1 << 20


def test_download_size_comes_from_the_sealed_map(d):
    """An edited versions.size column (no key needed to change it) must
    not turn into a short 200 response: the Content-Length is the size
    sealed in the map."""
    alice = principal(d, "alice")
    tenant(d, "contoso", "alice")
    url = "/v1/tenants/contoso/sites/s/files/report.bin"
    data = os.urandom(3 << 20)
    assert d.request("PUT", url, alice, raw=data).status == 201
    db = sqlite3.connect(d.data / "content" / "content.db")
    db.execute("UPDATE versions SET size = 1000")
    db.commit()
    db.close()
    r = d.request("GET", url, alice)
    assert r.status == 200, r
    assert r.header("Content-Length") == str(len(data))
    assert r.body == data


def test_cli_collect_spares_a_daemon_upload(d, tmp_path):
    """`rampart store check --collect` from the CLI while rampartd is in
    the middle of a slow upload: the collector waits for the upload to
    commit and deletes none of its blobs."""
    alice = principal(d, "alice")
    tenant(d, "contoso", "alice")
    url = "/v1/tenants/contoso/sites/s/files/big.bin"
    data = os.urandom(12 << 20)
    sent = threading.Event()

    def body():
        for i in range(0, len(data), 1 << 20):
            if i == 10 << 20:
                sent.set()  # several chunks are blobs by now
                time.sleep(3)  # a slow client
            yield data[i:i + (1 << 20)]

    res = {}
    t = threading.Thread(
        target=lambda: res.setdefault(
            "put", d.request("PUT", url, alice, raw=body())))
    t.start()
    assert sent.wait(60)
    time.sleep(1)
    tok = tmp_path / "admin.token"
    tok.write_text(d.admin)
    tok.chmod(0o600)
    chk = subprocess.run(
        [str(d.cli), "store", "check", "--collect", "--json", "--data",
         str(d.data), "--token-file", str(tok)],
        capture_output=True, text=True, timeout=120)
    t.join(120)
    assert chk.returncode == 0, chk.stderr
    rep = json.loads(chk.stdout)
    assert rep["collected"] == 0 and rep["orphans"] == [], rep
    assert res["put"].status == 201, res["put"]
    r = d.request("GET", url, alice)
    assert r.status == 200 and r.body == data


def raw_exchange(d, data, timeout=10):
    """Send data on a TLS connection of its own; what came back until the
    server closed or timeout passed."""
    with socket.create_connection(("127.0.0.1", d.port)) as sock:
        s = d.context().wrap_socket(sock, server_hostname="localhost")
        s.sendall(data)
        s.settimeout(timeout)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except (socket.timeout, ssl.SSLError, ConnectionError):
            pass
        s.close()
        return out


def test_unknown_token_gets_no_body_read(d):
    """A made-up token is refused before the body is read: a slow body
    under it cannot hold a worker, and a large one is not buffered."""
    head = first_reply(d, b"POST /v1/groups HTTP/1.1\r\nHost: x\r\n"
                       b"Authorization: Bearer rpt_bogus\r\n"
                       b"Content-Type: application/json\r\n"
                       b"Content-Length: 1000\r\n\r\n{", timeout=5)
    assert head.startswith(b"HTTP/1.1 401"), head
    # The same for a key operation's large body limit.
    r = d.request("POST", "/v1/vaults/v/keys/k/encrypt", "rpt_" + "A" * 43,
                  {"value": "AAAA"})
    assert r.status == 401, r


def test_header_names_with_white_space_are_refused(d):
    """White space between a header name and its colon is a 400 (RFC 9112
    5.1): such a Transfer-Encoding or Content-Length would frame the body
    past the server's own checks."""
    tok = d.admin.encode()
    body = b'{"name":"g"}'
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    cases = [
        b"Transfer-Encoding : gzip, chunked\r\n\r\n" + chunked,
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding : chunked\r\n\r\n"
        + chunked,
        b"Content-Length : %d\r\n\r\n" % len(body) + body,
        b"Content-Length\t: %d\r\n\r\n" % len(body) + body,
    ]
    for tail in cases:
        out = raw_exchange(d, b"POST /v1/groups HTTP/1.1\r\nHost: x\r\n"
                           b"Authorization: Bearer " + tok +
                           b"\r\nConnection: close\r\n" + tail)
        assert out.startswith(b"HTTP/1.1 400"), (tail, out[:200])
    out = raw_exchange(d, b"GET /healthz HTTP/1.1\r\nHost : x\r\nHost: y\r\n"
                       b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    r = d.request("GET", "/v1/groups", d.admin)
    assert r.status == 200 and r.json() == [], r


def test_malformed_parameters_need_a_valid_token_first(d):
    """A missing or unknown token gets 401 even where the path itself is
    malformed (a bad escape, an invalid name)."""
    r = d.request("GET", "/v1/vaults/%zz")
    assert r.status == 401, r
    r = d.request("GET", "/v1/vaults/%zz", "rpt_" + "A" * 43)
    assert r.status == 401, r
    r = d.request("GET", "/v1/vaults/-bad/keys/k", "rpt_" + "A" * 43)
    assert r.status == 401, r
    r = d.request("GET", "/v1/vaults/-bad/keys/k", d.admin)
    assert r.status in (400, 404), r


def test_file_paths_and_query_values_decode_exactly(d):
    alice = principal(d, "alice")
    tenant(d, "contoso", "alice")
    base = "/v1/tenants/contoso/sites/s/files/"
    assert d.request("PUT", base + "a+b.txt", alice, raw=b"plus").status == 201
    assert d.request("PUT", base + "a%20b.txt", alice,
                     raw=b"space").status == 201
    r = d.request("GET", "/v1/tenants/contoso/sites/s/files?prefix=a%2Bb",
                  alice)
    assert r.status == 200, r
    assert [f["path"] for f in r.json()] == ["a+b.txt"], r.json()
    r = d.request("GET", "/v1/tenants/contoso/sites/s/files?prefix=a+b",
                  alice)
    assert [f["path"] for f in r.json()] == ["a b.txt"], r.json()
    assert d.request("GET", base + "a+b.txt/", alice).status == 400


def test_names_and_paths_must_be_utf8(d):
    """A path segment or query value that is not well-formed UTF-8 is
    refused as invalid before anything is done or audited: audited raw,
    it would make the audit log and listings unreadable as JSON."""
    alice = principal(d, "alice")
    bob = principal(d, "bob")  # valid token, no rights
    tenant(d, "contoso", "alice")
    base = "/v1/tenants/contoso/sites/docs/files/"
    assert d.request("PUT", base + "caf%C3%A9/%E6%97%A5.txt", alice,
                     raw=b"utf8").status == 201
    after = d.request("GET", "/v1/audit?limit=10000",
                      d.admin).json()[-1]["seq"]
    for method, path in [
            ("GET", base + "%FE%FD"),
            ("GET", base + "ok/%C0%AF"),        # overlong '/'
            ("PUT", base + "%ED%A0%80"),        # surrogate
            ("DELETE", base + "%F4%90%80%80"),  # above U+10FFFF
            ("GET", base + "caf%C3"),           # truncated
            ("GET", "/v1/tenants/contoso/sites/docs/versions/%FE%FD"),
            ("GET", "/v1/tenants/contoso/sites/%FF/files"),
            ("GET", "/v1/tenants/contoso/sites/docs/files?prefix=%FF"),
            ("GET", "/v1/tenants/%FF/audit"),
            ("GET", "/v1/vaults/%FF"),
            ("GET", "/v1/vaults/v/keys/%FF")]:
        for who in (bob, alice, d.admin):
            r = d.request(method, path, who, raw=b"x" if method == "PUT"
                          else None)
            assert (r.status, r.error_code()) == (400, "invalid"), \
                (method, path, r)
    r = d.request("GET", f"/v1/audit?after={after}", d.admin)
    assert r.status == 200, r
    # Nothing was audited for them (only the audit read that took after).
    assert {rec["op"] for rec in r.json()} <= {"audit.read"}, r.json()
    assert d.request("GET", "/v1/audit?limit=10000", d.admin).status == 200
    assert d.request("GET", "/v1/tenants/contoso/audit", alice).status == 200
    r = d.request("GET", "/v1/tenants/contoso/sites/docs/files", alice)
    assert r.status == 200, r
    assert [f["path"] for f in r.json()] == ["caf\u00e9/\u65e5.txt"]
    r = d.request("GET", base + "caf%C3%A9/%E6%97%A5.txt", alice)
    assert (r.status, r.body) == (200, b"utf8")


def test_audit_stream_hides_nothing_under_its_request_id(d):
    """The stream leaves out only its own polls: another principal's key
    use under the stream's request id is shown like any other record."""
    bob = principal(d, "bob")
    assert d.request("POST", "/v1/vaults", d.admin, {"name": "v1"}).status == 201
    assert d.request("POST", "/v1/vaults/v1/keys", d.admin,
                     {"name": "k1", "kty": "aes-256"}).status == 201
    assert d.request("POST", "/v1/vaults/v1/grants", d.admin,
                     {"subject": "bob", "perms": ["encrypt"]}).status == 204
    last = d.request("GET", "/v1/audit?limit=10000", d.admin).json()[-1]["seq"]
    seen = []
    conn = d.connection(timeout=20)
    conn.request("GET", f"/v1/audit/stream?after={last}",
                 headers={"Authorization": f"Bearer {d.admin}",
                          "X-Request-Id": "ops-stream"})
    resp = conn.getresponse()
    assert resp.status == 200

    def reader():
        while len(seen) < 2:
            line = resp.fp.readline()
            if not line:
                return
            try:
                rec = json.loads(line.strip())
            except ValueError:
                continue
            if isinstance(rec, dict) and rec.get("op") == "key.encrypt":
                seen.append(rec["request_id"])

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    for rid in ("ops-stream", "bob-visible"):
        r = d.request("POST", "/v1/vaults/v1/keys/k1/encrypt", bob,
                      {"value": "AAAA"}, headers={"X-Request-Id": rid})
        assert r.status == 200, r
    t.join(timeout=10)
    conn.close()
    assert sorted(seen) == ["bob-visible", "ops-stream"], seen


def test_client_certificate_before_anything_else(tmp_path):
    """With a client certificate required, a client without one learns
    nothing, not even whether a token is valid: a malformed parameter
    gets the same 401 for a valid and a made-up token."""
    ca, _cert, _key = make_client_ca(tmp_path)
    d = Daemon(tmp_path, ["--client-ca", str(ca),
                          "--client-cert-required", "true"]).start()
    try:
        good = d.request("GET", "/v1/vaults/%00", d.admin)
        bad = d.request("GET", "/v1/vaults/%00", "rpt_" + "A" * 43)
        assert good.status == bad.status == 401, (good, bad)
        assert good.body == bad.body
    finally:
        assert d.stop() == 0
