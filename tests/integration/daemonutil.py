# SPDX-License-Identifier: Apache-2.0
"""A real rampartd for tests: a fresh data directory (rampart init), a
throwaway certificate made with the openssl CLI, the daemon on a free
loopback port (--port-file), and a small HTTPS client over http.client."""
import http.client
import json
import os
import pathlib
import signal
import ssl
import subprocess
import time

from conftest import build_dir


def make_cert(directory: pathlib.Path, name="cert", cn="localhost"):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost."""
    key = directory / f"{name}-key.pem"
    cert = directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
         f"/CN={cn}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def error_code(self):
        return self.json()["error"]["code"]

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Daemon:
    """rampartd over a fresh store in tmp; stop() sends SIGTERM."""

    def __init__(self, tmp: pathlib.Path, extra_args=(), init=True):
        self.tmp = tmp
        self.data = tmp / "data"
        self.bin = build_dir() / "src" / "rampartd" / "rampartd"
        self.cli = build_dir() / "src" / "rampart"
        self.log_path = tmp / "rampartd.log"
        self.port_file = tmp / "port"
        if init:
            out = subprocess.run(
                [str(self.cli), "init", "--data", str(self.data), "--json"],
                check=True, capture_output=True, text=True)
            self.admin = json.loads(out.stdout)["token"]
        self.cert, self.key = make_cert(tmp)
        self.extra_args = list(extra_args)
        self.preexec = None  # run in the child before rampartd (limits)
        self.proc = None
        self.port = None

    def start(self, wait=True):
        if self.port_file.exists():
            self.port_file.unlink()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.bin), "--data", str(self.data), "--listen",
             "127.0.0.1:0", "--cert", str(self.cert), "--key", str(self.key),
             "--port-file", str(self.port_file), *self.extra_args],
            stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=self.preexec)
        if not wait:
            return self
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"rampartd exited {self.proc.returncode}: "
                    f"{self.log_path.read_text()}")
            if self.port_file.exists():
                text = self.port_file.read_text().strip()
                if text:
                    self.port = int(text)
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError("rampartd did not start")
        return self

    def stop(self, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        return rc

    def signal(self, sig):
        self.proc.send_signal(sig)

    def url(self, path=""):
        return f"https://127.0.0.1:{self.port}{path}"

    def context(self, cafile=None):
        ctx = ssl.create_default_context(cafile=str(cafile or self.cert))
        return ctx

    def connection(self, timeout=60):
        return http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=self.context(),
                                           timeout=timeout)

    def request(self, method, path, token=None, body=None, headers=None,
                conn=None, raw=None):
        """One request; body: a JSON-able object, raw: bytes or an
        iterable of bytes (sent chunked)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            if not isinstance(raw, (bytes, bytearray)):
                hdrs["Transfer-Encoding"] = "chunked"
        own = conn is None
        c = conn or self.connection()
        try:
            c.request(method, path, body=data, headers=hdrs,
                      encode_chunked=data is not None and
                      not isinstance(data, (bytes, bytearray)))
            resp = c.getresponse()
            payload = resp.read()
            return Response(resp.status, resp.getheaders(), payload)
        finally:
            if own:
                c.close()

    def log_text(self):
        return self.log_path.read_text(errors="replace")
