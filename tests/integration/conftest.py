# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: the programs under test come from the build directory
named by RAMPART_BUILD (set by `make test`), default ./build."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("RAMPART_BUILD", ROOT / "build"))


@pytest.fixture(scope="session")
def rampart_bin() -> pathlib.Path:
    path = build_dir() / "src" / "rampart"
    if not path.exists():
        pytest.fail(f"{path} not built; run `make build` first")
    return path


class Runner:
    def __init__(self, binary):
        self.binary = binary

    def __call__(self, *args, check=None, env=None, timeout=300):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.run([str(self.binary), *map(str, args)],
                              capture_output=True, text=True, env=full_env,
                              timeout=timeout)
        if check is not None:
            assert proc.returncode == check, (
                f"exit {proc.returncode}, expected {check}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc


@pytest.fixture
def rampart(rampart_bin) -> Runner:
    return Runner(rampart_bin)
