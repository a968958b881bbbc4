# SPDX-License-Identifier: Apache-2.0
"""`make run` as a new user meets it: scripts/run.sh creates the embedded
default, prints the admin token once and a quickstart, and serves; the
quickstart's commands, pasted into a shell as printed, work."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

from conftest import ROOT, build_dir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path, port):
    env = dict(os.environ, RAMPART_RUN_DIR=str(tmp_path / "var"),
               RAMPART_RUN_LISTEN=f"127.0.0.1:{port}")
    out = open(tmp_path / "run.out", "wb")
    proc = subprocess.Popen([str(ROOT / "scripts" / "run.sh"),
                             str(build_dir())], stdout=out,
                            stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline:
        text = (tmp_path / "run.out").read_text(errors="replace")
        if '"msg":"listening"' in text:
            return proc, text
        if proc.poll() is not None:
            raise AssertionError(f"run.sh exited {proc.returncode}: {text}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("run.sh did not start rampartd")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_quickstart_works_as_printed(tmp_path):
    port = free_port()
    proc, text = start(tmp_path, port)
    try:
        assert "shown this once" in text
        commands = re.findall(r"^  \$ (.*)$", text, re.M)
        assert len(commands) >= 8, text
        work = tmp_path / "user"
        work.mkdir()
        script = "set -e\n" + "\n".join(commands) + "\n"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RAMPART_")}
        r = subprocess.run(["bash", "-c", script], cwd=work, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (script, r.stdout, r.stderr)
        # The CLI get and the curl get both printed the file.
        assert r.stdout.count("hello, encrypted world") == 2, r.stdout
        # The admin token appears in the quickstart, never in the logs.
        token = re.search(r"export RAMPART_TOKEN=(\S+)", text).group(1)
        logs = [l for l in (tmp_path / "run.out").read_text().splitlines()
                if l.startswith("{")]
        assert logs and not any(token in l for l in logs)
    finally:
        stop(proc)
    # A second run keeps the store and does not print a token again.
    proc, text = start(tmp_path, port)
    try:
        assert "shown this once" not in text
        assert "printed on the first run" in text
        assert not re.search(r"export RAMPART_TOKEN=rpt_", text)
    finally:
        stop(proc)
