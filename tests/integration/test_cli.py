# SPDX-License-Identifier: Apache-2.0
"""The rampart CLI skeleton: dispatch, help, exit codes, error format."""
import re

EX_USAGE = 64


def test_version(rampart):
    p = rampart("--version", check=0)
    assert re.fullmatch(r"rampart \d+\.\d+\.\d+\n", p.stdout)


def test_help_lists_commands(rampart):
    p = rampart("--help", check=0)
    assert "usage: rampart" in p.stdout
    assert "selftest" in p.stdout


def test_every_command_has_help(rampart):
    top = rampart("--help", check=0).stdout
    commands = re.findall(r"^  (\w+)\s", top.split("Commands:")[1], re.M)
    assert commands, top
    for cmd in commands:
        p = rampart(cmd, "--help", check=0)
        assert f"usage: rampart {cmd}" in p.stdout


def test_unknown_command_is_usage_error(rampart):
    p = rampart("frobnicate", check=EX_USAGE)
    assert p.stdout == ""
    assert "rampart: unknown command 'frobnicate'" in p.stderr
    assert "usage:" in p.stderr


def test_no_command_is_usage_error(rampart):
    p = rampart(check=EX_USAGE)
    assert "usage:" in p.stderr


def test_unknown_global_option(rampart):
    p = rampart("--frob", check=EX_USAGE)
    assert "unknown option '--frob'" in p.stderr


def test_selftest_bad_flag_is_usage_error(rampart):
    p = rampart("selftest", "--bogus", check=EX_USAGE)
    assert p.stdout == ""
    assert re.search(r"^rampart: selftest: .*--bogus", p.stderr, re.M)
    assert "rampart selftest --help" in p.stderr


def test_selftest_extra_argument_is_usage_error(rampart):
    rampart("selftest", "extra", check=EX_USAGE)


def test_selftest_missing_option_value(rampart):
    rampart("selftest", "--vectors", check=EX_USAGE)
