# SPDX-License-Identifier: Apache-2.0
"""docs/api/openapi.json against itself, against the running server's own
route list, and against the server's answers.

a. Structure: OpenAPI 3.0.3, 2-space JSON, unique operationIds, every $ref
   resolves, path parameters declared, security as documented, the error
   codes those of docs/api/http.md.
b. Routes: the (method, template) pairs of rampart_http_route_info in
   /metrics equal the document's, both ways.
c. Behaviour: every operation is called with a concrete, valid request
   (objects made first); the status must be a documented one (and the one
   the case expects), and JSON bodies must validate against the documented
   schema (a small validator for the subset the document uses). Every
   bearer operation also answers 401 without a token, and every closed
   request schema (additionalProperties false) is enforced by the server.
"""
import base64
import itertools
import json
import os
import re
import subprocess
import urllib.parse

import pytest

from conftest import ROOT
from daemonutil import Daemon, Response

DOC_PATH = ROOT / "docs" / "api" / "openapi.json"
HTTP_MD = ROOT / "docs" / "api" / "http.md"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
                "trace")
NOAUTH_PATHS = {"/healthz", "/readyz", "/metrics"}


def _load():
    try:
        return json.loads(DOC_PATH.read_text())
    except (OSError, ValueError):
        return {}


DOC = _load()


# ---- document helpers --------------------------------------------------

def resolve(node, doc=None):
    """Follow local $refs ("#/a/b") until a node without one."""
    doc = DOC if doc is None else doc
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        r = node["$ref"]
        assert r.startswith("#/"), f"non-local $ref {r}"
        assert r not in seen, f"$ref cycle at {r}"
        seen.add(r)
        node = doc
        for part in r[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, \
                f"unresolved $ref {r}"
            node = node[part]
    return node


def operations(doc=None):
    """[(path, method, operation, path_item)] in document order."""
    doc = DOC if doc is None else doc
    out = []
    for path, item in doc.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                out.append((path, method, item[method], item))
    return out


def op_params(item, op, doc=None):
    """The effective parameters of an operation, resolved, keyed by
    (name, in); operation-level ones override path-level ones."""
    params = {}
    for p in item.get("parameters", []) + op.get("parameters", []):
        p = resolve(p, doc)
        params[(p["name"], p["in"])] = p
    return params


def template_names(path):
    return re.findall(r"\{([^}]*)\}", path)


def normalise(path, params):
    """A document template in the server's notation: {} for a segment,
    {*} for the rest of the path."""
    def sub(m):
        p = params.get((m.group(1), "path"), {})
        return "{*}" if p.get("x-rampart-rest") else "{}"
    return re.sub(r"\{([^}]*)\}", sub, path)


def template_regex(path, params):
    out, pos = "", 0
    for m in re.finditer(r"\{([^}]*)\}", path):
        out += re.escape(path[pos:m.start()])
        rest = params.get((m.group(1), "path"), {}).get("x-rampart-rest")
        out += "(.+)" if rest else "([^/]+)"
        pos = m.end()
    return re.compile(out + re.escape(path[pos:]) + "$")


def effective_security(op, doc=None):
    doc = DOC if doc is None else doc
    return op.get("security", doc.get("security", []))


OPS = {op.get("operationId"): (path, method, op, item)
       for path, method, op, item in operations()}


# ---- a minimal JSON Schema (OpenAPI 3.0 subset) validator ---------------

def _type_ok(t, v):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    raise AssertionError(f"unknown schema type {t!r}")


def validate(schema, value, where="$"):
    """Problems of value against schema: [] when it validates. Supports
    $ref, type, nullable, enum, pattern, minLength, minimum, maximum,
    minItems, maxItems, minProperties, required, properties,
    additionalProperties false, items, allOf, anyOf, oneOf."""
    schema = resolve(schema)
    errs = []
    if value is None and schema.get("nullable"):
        return errs
    for sub in schema.get("allOf", []):
        errs += validate(sub, value, where)
    if "anyOf" in schema:
        alts = [validate(sub, value, where) for sub in schema["anyOf"]]
        if all(alts):
            errs.append(f"{where}: matches no anyOf alternative: "
                        + " | ".join("; ".join(a) for a in alts))
    if "oneOf" in schema:
        n = sum(not validate(sub, value, where) for sub in schema["oneOf"])
        if n != 1:
            errs.append(f"{where}: matches {n} oneOf alternatives")
    t = schema.get("type")
    if t is not None and not _type_ok(t, value):
        return errs + [f"{where}: {value!r:.80} is not of type {t}"]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{where}: {value!r:.80} does not match "
                        f"{schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errs.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{where}: {value} > maximum {schema['maximum']}")
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            errs.append(f"{where}: fewer than {schema['minProperties']} "
                        "properties")
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errs.append(f"{where}: required property {name!r} missing")
        for name, v in value.items():
            if name in props:
                errs += validate(props[name], v, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                errs.append(f"{where}: unexpected property {name!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for n, v in enumerate(value):
                errs += validate(schema["items"], v, f"{where}[{n}]")
    return errs


def test_validator_itself():
    s = {"type": "object", "required": ["a"], "additionalProperties": False,
         "properties": {"a": {"type": "integer", "minimum": 1},
                        "b": {"type": "array", "items": {"enum": ["x"]}},
                        "c": {"type": "string", "nullable": True}}}
    assert validate(s, {"a": 1, "b": ["x"], "c": None}) == []
    assert validate(s, {"a": True})  # a bool is not an integer
    assert validate(s, {"a": 0})
    assert validate(s, {"b": []})
    assert validate(s, {"a": 1, "d": 1})
    assert validate(s, {"a": 1, "b": ["y"]})
    assert validate({"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    []) != []
    assert validate({"allOf": [s, {"required": ["b"]}]}, {"a": 1})


# ---- a. structure -----------------------------------------------------

def test_document_parses_and_is_formatted():
    text = DOC_PATH.read_text()
    doc = json.loads(text)
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["title"] and doc["info"]["version"]
    # 2-space indentation, the document's own key order, a final newline.
    assert text == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_operations_well_formed():
    ops = operations()
    assert ops
    ids = [op.get("operationId") for _, _, op, _ in ops]
    assert all(ids), "every operation has an operationId"
    assert len(ids) == len(set(ids)), sorted(
        i for i in ids if ids.count(i) > 1)
    for path, method, op, item in ops:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op.get("responses"), where
        for status, resp in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), (where, status)
            assert resolve(resp).get("description"), (where, status)
        sec = effective_security(op)
        if path in NOAUTH_PATHS:
            assert sec == [], where
        else:
            assert sec == [{"bearerAuth": []}], where
            assert "401" in op["responses"], where
        assert any(s.startswith("2") for s in op["responses"]), where


def test_every_ref_resolves():
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(DOC)
    assert refs
    for r in refs:
        resolve({"$ref": r})


def test_path_parameters_declared():
    for path, method, op, item in operations():
        where = f"{method.upper()} {path}"
        params = op_params(item, op)
        names = template_names(path)
        assert len(names) == len(set(names)), where
        declared = {n for (n, loc) in params if loc == "path"}
        assert set(names) == declared, (where, names, declared)
        for (name, loc), p in params.items():
            assert loc in ("path", "query", "header"), (where, name)
            assert "schema" in p, (where, name)
            if loc == "path":
                assert p.get("required") is True, (where, name)
            if p.get("x-rampart-rest"):
                # The rest of the path: the last segment of the template,
                # and said to hold '/'.
                assert path.endswith("{" + name + "}"), where
                assert "'/'" in p.get("description", ""), where


def test_error_codes_are_those_of_http_md():
    codes = set()
    for line in HTTP_MD.read_text().splitlines():
        m = re.match(r"\s*\| ((?:`[a-z_]+`(?:, )?)+) \| (\d{3}) \|", line)
        if m:
            codes |= set(re.findall(r"`([a-z_]+)`", m.group(1)))
    assert codes, "no error table in http.md"
    enum = resolve({"$ref": "#/components/schemas/Error"})
    enum = enum["properties"]["error"]["properties"]["code"]["enum"]
    assert set(enum) == codes


# ---- the daemon and the objects the cases use ----------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def q(*segments):
    return "/".join(urllib.parse.quote(s, safe="") for s in segments)


FILE_PATH = "a/b c.txt"
FILE_DATA = os.urandom(70000)
FILE_URL = f"/v1/tenants/contoso/sites/docs/files/{q(*FILE_PATH.split('/'))}"
VERSIONS_URL = FILE_URL.replace("/files/", "/versions/")


class World:
    """A daemon with principals alice (owner of vault kv and tenant
    contoso), bob (a user of contoso), a group, keys of every family,
    customer-key vaults and a file. Cases make what they change."""

    def __init__(self, d, tmp):
        self.d = d
        self.tmp = tmp
        self.admin = d.admin
        self._n = itertools.count(1)
        self.alice = self.principal("alice")
        self.bob = self.principal("bob")
        for name in ("carol", "dave"):
            self.principal(name)
        self.ok("POST", "/v1/groups", self.admin, {"name": "ops"}, 201)
        self.ok("POST", "/v1/vaults", self.admin,
                {"name": "kv", "owner": "alice"}, 201)
        for name, kty in (("aes", "aes-256"), ("rsa", "rsa-2048"),
                          ("ec", "ec-p256"), ("ed", "ed25519"),
                          ("mac", "hmac-sha256")):
            self.key(name, kty)
        self.imp = self.ok("POST", "/v1/vaults/kv/keys", self.alice,
                           {"name": "imp", "kty": "rsa-2048",
                            "ops": ["import"]}, 201).json()
        self.roots = self.root_pair()
        self.ok("POST", "/v1/tenants", self.admin,
                {"name": "contoso", "owner": "alice"}, 201)
        self.ok("PUT", "/v1/tenants/contoso/members/bob", self.alice,
                {"role": "user"}, 204)
        self.ok("PUT", FILE_URL, self.alice, raw=FILE_DATA, expect=201)

    def uniq(self, prefix):
        return f"{prefix}{next(self._n)}"

    def ok(self, method, path, token, body=None, expect=200, raw=None):
        r = self.d.request(method, path, token, body, raw=raw)
        assert r.status == expect, (method, path, r)
        return r

    def principal(self, name):
        return self.ok("POST", "/v1/principals", self.admin, {"name": name},
                       201).json()["token"]

    def key(self, name, kty, vault="kv", **attrs):
        return self.ok("POST", f"/v1/vaults/{vault}/keys", self.alice,
                       {"name": name, "kty": kty, **attrs}, 201).json()

    def root_pair(self):
        """Two purge-protected vaults with an RSA root key each, granted to
        the service: the roots of a Customer Key DEP."""
        roots = []
        for _ in range(2):
            v = self.uniq("cv")
            self.ok("POST", "/v1/vaults", self.admin,
                    {"name": v, "owner": "alice", "purge_protection": True},
                    201)
            self.key("root", "rsa-2048", vault=v)
            self.ok("POST", f"/v1/vaults/{v}/grants", self.alice,
                    {"subject": "rampart-service",
                     "perms": "get,wrap,unwrap"}, 204)
            roots.append(f"{v}/root")
        return roots

    def tenant(self):
        t = self.uniq("t")
        self.ok("POST", "/v1/tenants", self.admin,
                {"name": t, "owner": "alice"}, 201)
        return t

    def dep(self, tenant, roots=None):
        name = self.uniq("ck")
        self.ok("POST", f"/v1/tenants/{tenant}/deps", self.alice,
                {"name": name, "roots": roots or self.roots}, 201)
        return name

    def stream(self, path, token, lines=3):
        """The first non-blank lines of a streamed answer."""
        conn = self.d.connection(timeout=30)
        try:
            hdrs = {"Authorization": f"Bearer {token}"} if token else {}
            conn.request("GET", path, headers=hdrs)
            resp = conn.getresponse()
            if resp.status != 200:
                return Response(resp.status, resp.getheaders(), resp.read())
            got = []
            while len(got) < lines:
                line = resp.readline()
                if not line:
                    break
                if line.strip():
                    got.append(line)
            return Response(resp.status, resp.getheaders(), b"".join(got))
        finally:
            conn.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    d = Daemon(tmp).start()
    try:
        yield World(d, tmp)
    finally:
        assert d.stop() == 0, d.log_text()


# ---- b. the server's routes ---------------------------------------------

def test_routes_match_the_server(world):
    r = world.d.request("GET", "/metrics")
    assert r.status == 200, r
    served = re.findall(
        r'^rampart_http_route_info\{method="([A-Z]+)",route="([^"]+)"\} 1$',
        r.body.decode(), re.M)
    assert served, "no rampart_http_route_info in /metrics"
    assert len(served) == len(set(served)), "a route served twice"
    documented = {(method.upper(), normalise(path, op_params(item, op)))
                  for path, method, op, item in operations()}
    served = set(served)
    assert not served - documented, \
        f"served but not documented: {sorted(served - documented)}"
    assert not documented - served, \
        f"documented but not served: {sorted(documented - served)}"


# ---- c. behaviour -------------------------------------------------------

class Req:
    """One concrete request and what the case expects of it."""

    def __init__(self, method, path, token=None, body=None, raw=None,
                 headers=None, expect=200, check=None, schema=None,
                 stream=False, invalid=False):
        self.method, self.path, self.token = method, path, token
        self.body, self.raw, self.headers = body, raw, headers
        self.expect, self.check, self.schema = expect, check, schema
        self.stream = stream
        self.invalid = invalid  # deliberately outside the documented domain


class Case:
    def __init__(self, op_id, label, build, action=None):
        self.op_id, self.label, self.build = op_id, label, build
        self.action = action

    def __repr__(self):
        return f"{self.op_id}-{self.label}"


CASES = []


def case(op_id, label="", action=None):
    def register(fn):
        CASES.append(Case(op_id, label or fn.__name__, fn, action))
        return fn
    return register


# Health and metrics.

@case("healthz", "plain")
def _(w):
    return Req("GET", "/healthz",
               check=lambda r: r.json() == {"status": "ok"})


@case("readyz", "plain")
def _(w):
    return Req("GET", "/readyz")


@case("metrics", "plain")
def _(w):
    return Req("GET", "/metrics",
               check=lambda r: b"rampart_http_route_info" in r.body)


# Identity.

@case("whoami", "alice")
def _(w):
    return Req("GET", "/v1/whoami", w.alice,
               check=lambda r: r.json() == {"name": "alice", "admin": False})


@case("listPrincipals", "admin")
def _(w):
    return Req("GET", "/v1/principals", w.admin)


@case("createPrincipal", "required-only")
def _(w):
    return Req("POST", "/v1/principals", w.admin, {"name": w.uniq("p")},
               expect=201)


@case("createPrincipal", "admin")
def _(w):
    return Req("POST", "/v1/principals", w.admin,
               {"name": w.uniq("op"), "admin": True}, expect=201,
               check=lambda r: r.json()["admin"] is True)


@case("listGroups", "admin")
def _(w):
    return Req("GET", "/v1/groups", w.admin)


@case("createGroup", "required-only")
def _(w):
    return Req("POST", "/v1/groups", w.admin, {"name": w.uniq("g")},
               expect=201)


@case("addGroupMember", "bob")
def _(w):
    g = w.uniq("g")
    w.ok("POST", "/v1/groups", w.admin, {"name": g}, 201)
    return Req("PUT", f"/v1/groups/{g}/members/bob", w.admin, expect=204)


@case("removeGroupMember", "bob")
def _(w):
    g = w.uniq("g")
    w.ok("POST", "/v1/groups", w.admin, {"name": g}, 201)
    w.ok("PUT", f"/v1/groups/{g}/members/bob", w.admin, expect=204)
    return Req("DELETE", f"/v1/groups/{g}/members/bob", w.admin, expect=204)


# Vaults.

@case("listVaults", "admin")
def _(w):
    return Req("GET", "/v1/vaults", w.admin)


@case("listVaults", "owner")
def _(w):
    return Req("GET", "/v1/vaults", w.alice,
               check=lambda r: "kv" in [v["name"] for v in r.json()])


@case("createVault", "required-only")
def _(w):
    return Req("POST", "/v1/vaults", w.admin, {"name": w.uniq("v")},
               expect=201)


@case("createVault", "every-field")
def _(w):
    return Req("POST", "/v1/vaults", w.admin,
               {"name": w.uniq("v"), "owner": "alice", "retention_days": 7,
                "purge_protection": True}, expect=201,
               check=lambda r: (r.json()["owner"], r.json()["retention_days"],
                                r.json()["purge_protection"]) ==
               ("alice", 7, True))


@case("getVault", "owner")
def _(w):
    return Req("GET", "/v1/vaults/kv", w.alice)


@case("updateVault", "empty")
def _(w):
    return Req("PATCH", "/v1/vaults/kv", w.alice, {})


@case("updateVault", "every-field")
def _(w):
    v = w.uniq("v")
    w.ok("POST", "/v1/vaults", w.admin, {"name": v, "owner": "alice"}, 201)
    return Req("PATCH", f"/v1/vaults/{v}", w.alice,
               {"retention_days": 30, "purge_protection": True},
               check=lambda r: (r.json()["retention_days"],
                                r.json()["purge_protection"]) == (30, True))


@case("grantVaultPermissions", "group-list")
def _(w):
    return Req("POST", "/v1/vaults/kv/grants", w.alice,
               {"subject": "group:ops", "perms": ["wrap", "unwrap"]},
               expect=204)


@case("revokeVaultPermissions", "group-string")
def _(w):
    w.ok("POST", "/v1/vaults/kv/grants", w.alice,
         {"subject": "principal:bob", "perms": "get,wrap"}, expect=204)
    return Req("POST", "/v1/vaults/kv/revoke", w.alice,
               {"subject": "principal:bob", "perms": "wrap"}, expect=204)


@case("maintain", "admin")
def _(w):
    return Req("POST", "/v1/maintain", w.admin)


# Keys.

@case("listKeys", "current")
def _(w):
    return Req("GET", "/v1/vaults/kv/keys", w.alice,
               check=lambda r: {"aes", "rsa"} <=
               {k["name"] for k in r.json()})


@case("listKeys", "deleted")
def _(w):
    return Req("GET", "/v1/vaults/kv/keys?deleted=true", w.alice)


def _create_key_case(kty):
    def build(w):
        return Req("POST", "/v1/vaults/kv/keys", w.alice,
                   {"name": w.uniq("k"), "kty": kty}, expect=201,
                   check=lambda r: r.json()["kty"] == kty)
    return build


for _kty in resolve({"$ref": "#/components/schemas/Kty"}).get("enum", []) \
        if DOC else []:
    CASES.append(Case("createKey", _kty, _create_key_case(_kty)))


@case("createKey", "every-attribute")
def _(w):
    return Req("POST", "/v1/vaults/kv/keys", w.alice,
               {"name": w.uniq("k"), "kty": "aes-256", "enabled": True,
                "not_before": 0, "expires": 0, "ops": ["wrap", "unwrap"],
                "rotate_days": 30, "archive_days": 0}, expect=201,
               check=lambda r: r.json()["ops"] == ["wrap", "unwrap"])


@case("importKey", "pem")
def _(w):
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "EC",
                          "-pkeyopt", "ec_paramgen_curve:P-256"],
                         check=True, capture_output=True, text=True).stdout
    return Req("POST", "/v1/vaults/kv/keys/import", w.alice,
               {"name": w.uniq("pem"), "format": "pem", "data": pem},
               expect=201, check=lambda r: r.json()["kty"] == "ec-p256")


@case("importKey", "jwk-object")
def _(w):
    return Req("POST", "/v1/vaults/kv/keys/import", w.alice,
               {"name": w.uniq("jwk"), "format": "jwk", "kty": "hmac-sha256",
                "data": {"kty": "oct", "k": b64(os.urandom(32))}},
               expect=201)


@case("importKey", "byok")
def _(w):
    d = w.tmp / w.uniq("byok")
    d.mkdir()
    (d / "import.pem").write_text(w.imp["pem"])
    eph = os.urandom(32)
    (d / "eph").write_bytes(eph)
    (d / "target").write_bytes(os.urandom(32))
    subprocess.run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey",
                    str(d / "import.pem"), "-pkeyopt", "rsa_padding_mode:oaep",
                    "-pkeyopt", "rsa_oaep_md:sha256",
                    "-pkeyopt", "rsa_mgf1_md:sha256",
                    "-in", str(d / "eph"), "-out", str(d / "p1")],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "enc", "-id-aes256-wrap-pad", "-iv", "A65959A6",
                    "-K", eph.hex(), "-in", str(d / "target"),
                    "-out", str(d / "p2")], check=True, capture_output=True)
    blob = (d / "p1").read_bytes() + (d / "p2").read_bytes()
    return Req("POST", "/v1/vaults/kv/keys/import", w.alice,
               {"name": w.uniq("byok"), "format": "byok", "kty": "aes-256",
                "kek": "kv/imp", "data": b64(blob)}, expect=201)


@case("restoreKey", "purged")
def _(w):
    name = w.uniq("k")
    w.key(name, "aes-256")
    blob = w.ok("POST", f"/v1/vaults/kv/keys/{name}/backup",
                w.alice).json()["backup"]
    w.ok("DELETE", f"/v1/vaults/kv/keys/{name}", w.alice, expect=204)
    w.ok("POST", f"/v1/vaults/kv/keys/{name}/purge", w.alice, expect=204)
    return Req("POST", "/v1/vaults/kv/keys/restore", w.alice,
               {"backup": blob}, expect=201,
               check=lambda r: r.json()["name"] == name)


@case("getKey", "asymmetric")
def _(w):
    return Req("GET", "/v1/vaults/kv/keys/rsa", w.alice,
               check=lambda r: "BEGIN PUBLIC KEY" in r.json()["pem"] and
               r.json()["jwk"]["kty"] == "RSA")


@case("getKey", "version")
def _(w):
    return Req("GET", "/v1/vaults/kv/keys/aes?version=1", w.alice,
               check=lambda r: r.json()["version"] == 1)


@case("updateKey", "every-attribute")
def _(w):
    name = w.uniq("k")
    w.key(name, "aes-256")
    return Req("PATCH", f"/v1/vaults/kv/keys/{name}", w.alice,
               {"enabled": True, "not_before": 0, "expires": 0,
                "ops": "wrap,unwrap", "rotate_days": 90, "archive_days": 0},
               expect=204)


@case("deleteKey", "soft")
def _(w):
    name = w.uniq("k")
    w.key(name, "ec-p256")
    return Req("DELETE", f"/v1/vaults/kv/keys/{name}", w.alice, expect=204)


@case("listKeyVersions", "aes")
def _(w):
    return Req("GET", "/v1/vaults/kv/keys/aes/versions", w.alice)


def ka(action, label):
    return case("keyAction", label, action)


@ka("wrap", "wrap-aes")
def _(w):
    return Req("POST", "/v1/vaults/kv/keys/aes/wrap", w.alice,
               {"value": b64(os.urandom(32))}, schema="KeyOpResult")


@ka("wrap", "wrap-rsa-alg-version")
def _(w):
    return Req("POST", "/v1/vaults/kv/keys/rsa/wrap", w.alice,
               {"value": b64(os.urandom(32)), "alg": "RSA-OAEP-256",
                "version": 1}, schema="KeyOpResult",
               check=lambda r: r.json()["version"] == 1)


@ka("unwrap", "unwrap-aes")
def _(w):
    secret = os.urandom(32)
    wrapped = w.ok("POST", "/v1/vaults/kv/keys/aes/wrap", w.alice,
                   {"value": b64(secret)}).json()["value"]
    return Req("POST", "/v1/vaults/kv/keys/aes/unwrap", w.alice,
               {"value": wrapped}, schema="KeyOpResult",
               check=lambda r: unb64(r.json()["value"]) == secret)


@ka("encrypt", "encrypt-aes")
def _(w):
    return Req("POST", "/v1/vaults/kv/keys/aes/encrypt", w.alice,
               {"value": b64(b"hello")}, schema="KeyOpResult")


@ka("decrypt", "decrypt-aes")
def _(w):
    ct = w.ok("POST", "/v1/vaults/kv/keys/aes/encrypt", w.alice,
              {"value": b64(b"hello")}).json()["value"]
    return Req("POST", "/v1/vaults/kv/keys/aes/decrypt", w.alice,
               {"value": ct}, schema="KeyOpResult",
               check=lambda r: unb64(r.json()["value"]) == b"hello")


def _sign_case(key):
    def build(w):
        return Req("POST", f"/v1/vaults/kv/keys/{key}/sign", w.alice,
                   {"value": b64(b"message")}, schema="KeyOpResult")
    return build


def _verify_case(key, good):
    def build(w):
        sig = w.ok("POST", f"/v1/vaults/kv/keys/{key}/sign", w.alice,
                   {"value": b64(b"message")}).json()["value"]
        msg = b"message" if good else b"another message"
        return Req("POST", f"/v1/vaults/kv/keys/{key}/verify", w.alice,
                   {"value": b64(msg), "signature": sig},
                   schema="VerifyResult",
                   check=lambda r: r.json()["valid"] is good)
    return build


for _key in ("rsa", "ec", "ed", "mac"):
    CASES.append(Case("keyAction", f"sign-{_key}", _sign_case(_key), "sign"))
    CASES.append(Case("keyAction", f"verify-{_key}",
                      _verify_case(_key, True), "verify"))
CASES.append(Case("keyAction", "verify-bad-signature",
                  _verify_case("ec", False), "verify"))


@ka("rotate", "rotate")
def _(w):
    name = w.uniq("k")
    w.key(name, "aes-256")
    return Req("POST", f"/v1/vaults/kv/keys/{name}/rotate", w.alice,
               schema="Key",
               check=lambda r: r.json()["current_version"] == 2)


@ka("recover", "recover")
def _(w):
    name = w.uniq("k")
    w.key(name, "aes-256")
    w.ok("DELETE", f"/v1/vaults/kv/keys/{name}", w.alice, expect=204)
    return Req("POST", f"/v1/vaults/kv/keys/{name}/recover", w.alice,
               expect=204)


@ka("purge", "purge")
def _(w):
    name = w.uniq("k")
    w.key(name, "aes-256")
    w.ok("DELETE", f"/v1/vaults/kv/keys/{name}", w.alice, expect=204)
    return Req("POST", f"/v1/vaults/kv/keys/{name}/purge", w.alice,
               expect=204)


@ka("backup", "backup")
def _(w):
    return Req("POST", "/v1/vaults/kv/keys/aes/backup", w.alice,
               schema="KeyBackup")


# Audit.

@case("readAudit", "page")
def _(w):
    return Req("GET", "/v1/audit?after=0&limit=5", w.admin,
               check=lambda r: 1 <= len(r.json()) <= 5)


@case("streamAudit", "from-start")
def _(w):
    return Req("GET", "/v1/audit/stream?after=0", w.admin, stream=True)


@case("verifyAudit", "intact")
def _(w):
    return Req("POST", "/v1/audit/verify", w.admin,
               check=lambda r: r.json()["ok"] is True)


# Tenants, members, DEPs.

@case("listTenants", "operator")
def _(w):
    return Req("GET", "/v1/tenants", w.admin)


@case("listTenants", "owner")
def _(w):
    return Req("GET", "/v1/tenants", w.alice,
               check=lambda r: "contoso" in [t["name"] for t in r.json()])


@case("createTenant", "required-only")
def _(w):
    # No owner: the caller owns it, and the answer says who that is.
    return Req("POST", "/v1/tenants", w.admin, {"name": w.uniq("t")},
               expect=201, check=lambda r: r.json()["owner"] == "admin")


@case("createTenant", "owner")
def _(w):
    return Req("POST", "/v1/tenants", w.admin,
               {"name": w.uniq("t"), "owner": "alice"}, expect=201,
               check=lambda r: r.json()["owner"] == "alice")


@case("listTenantMembers", "owner")
def _(w):
    return Req("GET", "/v1/tenants/contoso/members", w.alice,
               check=lambda r: r.json()[0] == {"principal": "alice",
                                               "role": "owner"})


@case("setTenantMember", "admin-role")
def _(w):
    return Req("PUT", "/v1/tenants/contoso/members/carol", w.alice,
               {"role": "admin"}, expect=204)


@case("removeTenantMember", "user")
def _(w):
    w.ok("PUT", "/v1/tenants/contoso/members/dave", w.alice,
         {"role": "user"}, 204)
    return Req("DELETE", "/v1/tenants/contoso/members/dave", w.alice,
               expect=204)


@case("readTenantAudit", "page")
def _(w):
    return Req("GET", "/v1/tenants/contoso/audit?after=0&limit=50", w.alice,
               check=lambda r: r.json() and
               all(a["tenant"] == "contoso" for a in r.json()))


@case("listDeps", "owner")
def _(w):
    return Req("GET", "/v1/tenants/contoso/deps", w.alice,
               check=lambda r: [d["name"] for d in r.json()][0] == "default")


@case("listDeps", "operator")
def _(w):
    return Req("GET", "/v1/tenants/contoso/deps", w.admin)


@case("createDep", "customer-key")
def _(w):
    t = w.tenant()
    return Req("POST", f"/v1/tenants/{t}/deps", w.alice,
               {"name": w.uniq("ck"), "roots": w.roots}, expect=201)


@case("depAction", "assign", "assign")
def _(w):
    t = w.tenant()
    dep = w.dep(t)
    return Req("POST", f"/v1/tenants/{t}/deps/{dep}/assign", w.alice,
               expect=204)


@case("depAction", "roll", "roll")
def _(w):
    t = w.tenant()
    dep = w.dep(t)
    w.ok("POST", f"/v1/tenants/{t}/deps/{dep}/assign", w.alice, expect=204)
    return Req("POST", f"/v1/tenants/{t}/deps/{dep}/roll", w.alice,
               expect=204)


@case("depAction", "purge", "purge")
def _(w):
    t = w.tenant()
    roots = w.root_pair()
    dep = w.dep(t, roots)
    for root in roots:  # the customer revokes both roots
        w.ok("PATCH", f"/v1/vaults/{root.replace('/', '/keys/')}", w.alice,
             {"enabled": False}, 204)
    return Req("POST", f"/v1/tenants/{t}/deps/{dep}/purge", w.alice,
               {"confirm": f"{t}/{dep}"}, expect=204)


@case("depAction", "recover", "recover")
def _(w):
    t = w.tenant()
    dep = w.dep(t)
    w.ok("POST", f"/v1/tenants/{t}/deps/{dep}/assign", w.alice, expect=204)
    return Req("POST", f"/v1/tenants/{t}/deps/{dep}/recover", w.admin,
               {"to": "default"}, expect=204)


# Files.


@case("listFiles", "user")
def _(w):
    return Req("GET", "/v1/tenants/contoso/sites/docs/files", w.bob,
               check=lambda r: FILE_PATH in [f["path"] for f in r.json()])


@case("listFiles", "prefix")
def _(w):
    return Req("GET", "/v1/tenants/contoso/sites/docs/files?prefix=a%2F",
               w.bob, check=lambda r: [f["path"] for f in r.json()] ==
               [FILE_PATH])


@case("putFile", "content-length")
def _(w):
    return Req("PUT", f"/v1/tenants/contoso/sites/up/files/{w.uniq('f')}",
               w.bob, raw=os.urandom(1000), expect=201,
               check=lambda r: r.json() == {"version": 1, "size": 1000})


@case("putFile", "chunked-nested")
def _(w):
    data = os.urandom(200000)
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
    return Req("PUT",
               f"/v1/tenants/contoso/sites/up/files/x/y/{w.uniq('f')}.bin",
               w.bob, raw=chunks, expect=201,
               check=lambda r: r.json()["size"] == len(data))


@case("putFile", "empty")
def _(w):
    return Req("PUT", f"/v1/tenants/contoso/sites/up/files/{w.uniq('e')}",
               w.bob, raw=b"", expect=201)


@case("getFile", "whole")
def _(w):
    return Req("GET", FILE_URL, w.bob,
               check=lambda r: r.body == FILE_DATA and
               r.header("X-Rampart-Version") == "1" and
               r.header("Accept-Ranges") == "bytes")


@case("getFile", "version")
def _(w):
    return Req("GET", FILE_URL + "?version=1", w.bob,
               check=lambda r: r.body == FILE_DATA)


@case("getFile", "range")
def _(w):
    return Req("GET", FILE_URL, w.bob, headers={"Range": "bytes=10-19"},
               expect=206,
               check=lambda r: r.body == FILE_DATA[10:20] and
               r.header("Content-Range") == f"bytes 10-19/{len(FILE_DATA)}")


@case("getFile", "range-past-the-end")
def _(w):
    return Req("GET", FILE_URL, w.bob,
               headers={"Range": f"bytes={len(FILE_DATA)}-"}, expect=416,
               check=lambda r: r.error_code() == "range")


@case("headFile", "whole")
def _(w):
    return Req("HEAD", FILE_URL, w.bob,
               check=lambda r: r.header("Content-Length") ==
               str(len(FILE_DATA)))


@case("headFile", "range")
def _(w):
    return Req("HEAD", FILE_URL, w.bob, headers={"Range": "bytes=-5"},
               expect=206)


@case("deleteFile", "user")
def _(w):
    url = f"/v1/tenants/contoso/sites/up/files/{w.uniq('d')}"
    w.ok("PUT", url, w.bob, raw=b"doomed", expect=201)
    return Req("DELETE", url, w.bob, expect=204)


@case("listFileVersions", "user")
def _(w):
    return Req("GET", VERSIONS_URL, w.bob,
               check=lambda r: [v["version"] for v in r.json()] == [1])


@case("checkStore", "no-body")
def _(w):
    return Req("POST", "/v1/store/check", w.admin)


@case("checkStore", "deep")
def _(w):
    return Req("POST", "/v1/store/check", w.admin,
               {"deep": True, "collect": False},
               check=lambda r: r.json()["deep"] is True)


# A few documented errors: the status is documented and the body is an
# Error.

@case("createPrincipal", "error-exists")
def _(w):
    return Req("POST", "/v1/principals", w.admin, {"name": "alice"},
               expect=409, check=lambda r: r.error_code() == "exists")


@case("getKey", "error-missing")
def _(w):
    return Req("GET", "/v1/vaults/kv/keys/nosuchkey", w.alice, expect=404,
               check=lambda r: r.error_code() == "not_found")


@case("updateKey", "error-no-attribute")
def _(w):
    return Req("PATCH", "/v1/vaults/kv/keys/aes", w.alice, {}, expect=400,
               check=lambda r: r.error_code() == "invalid", invalid=True)


@ka("unwrap", "error-unwrap-tampered")
def _(w):
    wrapped = bytearray(unb64(w.ok("POST", "/v1/vaults/kv/keys/aes/wrap",
                                   w.alice, {"value": b64(os.urandom(32))}
                                   ).json()["value"]))
    wrapped[5] ^= 1
    return Req("POST", "/v1/vaults/kv/keys/aes/unwrap", w.alice,
               {"value": b64(bytes(wrapped))}, expect=422,
               check=lambda r: r.error_code() == "auth_failed")


@ka("encrypt", "error-disabled")
def _(w):
    name = w.uniq("k")
    w.key(name, "aes-256", enabled=False)
    return Req("POST", f"/v1/vaults/kv/keys/{name}/encrypt", w.alice,
               {"value": b64(b"x")}, expect=409,
               check=lambda r: r.error_code() == "state")


@case("readAudit", "error-limit-0")
def _(w):
    return Req("GET", "/v1/audit?limit=0", w.admin, expect=400,
               invalid=True)


@case("listPrincipals", "error-not-operator")
def _(w):
    return Req("GET", "/v1/principals", w.alice, expect=403,
               check=lambda r: r.error_code() == "denied")


@case("depAction", "error-purge-roots-not-revoked", "purge")
def _(w):
    t = w.tenant()
    dep = w.dep(t)
    return Req("POST", f"/v1/tenants/{t}/deps/{dep}/purge", w.alice,
               {"confirm": f"{t}/{dep}"}, expect=409,
               check=lambda r: r.error_code() == "state")


@case("listFiles", "error-other-tenant")
def _(w):
    t = w.tenant()  # alice's; bob is no member
    return Req("GET", f"/v1/tenants/{t}/sites/docs/files", w.bob,
               expect=403)


@case("getFile", "error-bad-segment")
def _(w):
    return Req("GET", "/v1/tenants/contoso/sites/docs/files/a/..%2Fb",
               w.bob, expect=400, invalid=True)


def send(w, req):
    if req.stream:
        return w.stream(req.path, req.token)
    return w.d.request(req.method, req.path, req.token, req.body,
                       raw=req.raw, headers=req.headers)


def check_parameters(path, op, item, req, match):
    """The concrete path, query and headers use documented parameters with
    values valid against their schemas."""
    params = op_params(item, op)
    for name, value in zip(template_names(path), match.groups()):
        value = urllib.parse.unquote(value)
        problems = validate(params[(name, "path")]["schema"], value,
                            f"{{{name}}}")
        assert not problems, "\n".join(problems)
    query = req.path.partition("?")[2]
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        assert (name, "query") in params, f"undocumented query {name}"
        schema = resolve(params[(name, "query")]["schema"])
        if schema.get("type") == "integer":
            value = int(value)
        elif schema.get("type") == "boolean":
            value = {"true": True, "false": False}[value]
        problems = validate(schema, value, name)
        assert not problems, "\n".join(problems)
    for name, value in (req.headers or {}).items():
        assert (name, "header") in params, f"undocumented header {name}"
        problems = validate(params[(name, "header")]["schema"], value, name)
        assert not problems, "\n".join(problems)


def check_request(op, req):
    """The case sends what the document describes: a JSON body valid
    against the documented request schema, raw bytes where the document
    says octet-stream, no body only where none is required."""
    body = resolve(op.get("requestBody", {}))
    content = body.get("content", {})
    if req.body is not None:
        assert "application/json" in content, "a JSON body not documented"
        problems = validate(content["application/json"]["schema"], req.body)
        assert not problems, "the case's body: " + "\n".join(problems)
    elif req.raw is not None:
        assert "application/octet-stream" in content, "raw body not documented"
    else:
        assert not body.get("required"), "a required body is missing"


def check_answer(method, op, resp):
    """resp's status is documented for op, and its body fits the
    documented content."""
    documented = op["responses"]
    status = str(resp.status)
    assert status in documented, \
        f"status {status} not documented ({sorted(documented)}): {resp!r}"
    spec = resolve(documented[status])
    content = spec.get("content")
    if method == "HEAD" or resp.status == 204:
        assert resp.body == b"", resp
        return
    assert content, f"{status} documents no content but got {resp!r}"
    ctype = (resp.header("Content-Type") or "").split(";")[0].strip()
    assert ctype in content, (ctype, sorted(content))
    schema = content[ctype].get("schema", {})
    if ctype == "application/json":
        problems = validate(schema, resp.json())
        assert not problems, "\n".join(problems)
    elif ctype == "application/x-ndjson":
        lines = [ln for ln in resp.body.splitlines() if ln.strip()]
        assert lines, "no NDJSON record"
        for ln in lines:
            problems = validate(schema, json.loads(ln))
            assert not problems, "\n".join(problems)
    elif ctype == "text/plain":
        resp.body.decode("utf-8")


@pytest.mark.parametrize("c", CASES, ids=repr)
def test_operation(world, c):
    assert c.op_id in OPS, f"no operation {c.op_id} in the document"
    path, method, op, item = OPS[c.op_id]
    req = c.build(world)
    assert req.method == method.upper(), (req.method, method)
    concrete = req.path.split("?")[0]
    m = template_regex(path, op_params(item, op)).match(concrete)
    assert m, f"{concrete} is not an instance of {path}"
    if c.action is not None:
        assert c.action in m.groups(), (c.action, concrete)
    if not req.invalid:
        check_parameters(path, op, item, req, m)
        check_request(op, req)
    resp = send(world, req)
    check_answer(req.method, op, resp)
    assert resp.status == req.expect, resp
    if req.schema is not None:
        problems = validate({"$ref": f"#/components/schemas/{req.schema}"},
                            resp.json())
        assert not problems, "\n".join(problems)
    if req.check is not None:
        assert req.check(resp), resp


def test_every_operation_has_a_case():
    covered = {c.op_id for c in CASES}
    assert set(OPS) - covered == set(), sorted(set(OPS) - covered)
    # Every value of an enumerated path parameter ({action}) is exercised.
    for op_id, (path, method, op, item) in OPS.items():
        for (name, loc), p in op_params(item, op).items():
            values = resolve(p.get("schema", {})).get("enum")
            if loc == "path" and values:
                done = {c.action for c in CASES if c.op_id == op_id}
                assert set(values) <= done, (op_id, set(values) - done)


def placeholder_path(path, item, op):
    """A concrete path for op with made-up (well-formed) names."""
    params = op_params(item, op)

    def sub(m):
        p = params[(m.group(1), "path")]
        values = resolve(p["schema"]).get("enum")
        if values:
            return values[0]
        return "a/b" if p.get("x-rampart-rest") else "x1"
    return re.sub(r"\{([^}]*)\}", sub, path)


BEARER_OPS = [(op["operationId"], path, method, op, item)
              for path, method, op, item in operations()
              if effective_security(op)]


@pytest.mark.parametrize("op_id,path,method,op,item", BEARER_OPS,
                         ids=[o[0] for o in BEARER_OPS])
def test_no_token_is_401(world, op_id, path, method, op, item):
    assert "401" in op["responses"], op_id
    concrete = placeholder_path(path, item, op)
    # No token, and an unknown one: sent without the body an operation
    # wants, so a server that judged the input before the token would
    # answer 400 here.
    for token in (None, "rpt_" + "A" * 43):
        r = world.d.request(method.upper(), concrete, token)
        assert r.status == 401, (op_id, concrete, token, r)
        check_answer(method.upper(), op, r)
        if method != "head":
            assert r.error_code() == "unauthenticated"


def _closed_body_ops():
    out = []
    for path, method, op, item in operations():
        body = op.get("requestBody")
        if not body:
            continue
        media = resolve(body).get("content", {}).get("application/json")
        if media and resolve(media["schema"]).get(
                "additionalProperties") is False:
            out.append(op["operationId"])
    return out


@pytest.mark.parametrize("op_id", _closed_body_ops())
def test_unknown_fields_refused(world, op_id):
    """A closed request schema is what the server enforces: a valid body
    plus one unknown field is 400 invalid."""
    c = next(c for c in CASES if c.op_id == op_id)
    path, method, op, item = OPS[op_id]
    req = c.build(world)
    body = dict(req.body or {})
    body["zz_unknown"] = 1
    r = world.d.request(req.method, req.path, req.token, body)
    assert (r.status, r.error_code()) == (400, "invalid"), r
    assert "zz_unknown" in r.json()["error"]["message"]
    check_answer(req.method, op, r)
