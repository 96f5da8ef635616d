"""Unit tables for the runtime's pure helpers: capabilities, path resolution inside a root,
executable lookup, exit codes, CRI log lines."""

from __future__ import annotations

import os
import re

import pytest

from kubelet.runtime import linux, shim
from kubelet.runtime.linux import DEFAULT_CAPABILITIES, effective_capabilities


@pytest.mark.parametrize(("add", "drop", "privileged", "expected"), [
    (None, None, False, DEFAULT_CAPABILITIES),
    (["NET_ADMIN"], None, False, DEFAULT_CAPABILITIES | {"NET_ADMIN"}),
    (["CAP_SYS_TIME"], ["CAP_CHOWN", "kill"], False, (DEFAULT_CAPABILITIES | {"SYS_TIME"}) - {"CHOWN", "KILL"}),
    (["NET_BIND_SERVICE"], ["ALL"], False, {"NET_BIND_SERVICE"}),
    (None, ["ALL"], False, set()),
    (["ALL"], None, False, set(linux.CAPABILITIES)),
    (None, ["ALL"], True, set(linux.CAPABILITIES)),
    (["NOT_A_CAP"], None, False, DEFAULT_CAPABILITIES),
])
def test_effective_capabilities(add, drop, privileged, expected) -> None:
    assert effective_capabilities(DEFAULT_CAPABILITIES, add, drop, privileged) == frozenset(expected)


def test_default_set_is_kubernetes_default() -> None:
    assert len(DEFAULT_CAPABILITIES) == 14
    mask = sum(1 << linux.CAP_NUMBER[c] for c in DEFAULT_CAPABILITIES)
    assert f"{mask:016x}" == "00000000a80425fb"      # what `grep CapBnd /proc/1/status` shows in a pod


def test_secure_join_stays_inside_root(tmp_path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "abs").symlink_to("/etc/passwd")          # absolute: resolved inside root
    (root / "etc" / "up").symlink_to("../../../../outside")   # climbs: clamped at root
    (root / "data").symlink_to("etc")
    r = str(root)
    cases = [
        ("/etc/hosts", f"{r}/etc/hosts"),
        ("etc/abs", f"{r}/etc/passwd"),
        ("/etc/up", f"{r}/outside"),
        ("/data/x", f"{r}/etc/x"),
        ("/../../x", f"{r}/x"),
        ("/", r),
    ]
    for path, expected in cases:
        assert shim.secure_join(r, path) == expected, path
    (root / "loop").symlink_to("loop")
    with pytest.raises(OSError):
        shim.secure_join(r, "/loop/x")


def test_find_executable(tmp_path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (bin_dir / "data").write_text("")
    assert shim.find_executable("tool", f"/nonexistent:{bin_dir}") == str(tool)
    with pytest.raises(shim.StartError, match=r'exec: "data": executable file not found in \$PATH'):
        shim.find_executable("data", str(bin_dir))
    with pytest.raises(shim.StartError, match="no such file or directory"):
        shim.find_executable("/no/such", str(bin_dir))


@pytest.mark.parametrize(("status", "code"), [(0, 0), (3 << 8, 3), (9, 137), (15, 143), (6, 134)])
def test_exit_code_of(status: int, code: int) -> None:
    assert shim.exit_code_of(status) == code


def test_cri_log_writer(tmp_path) -> None:
    path = tmp_path / "0.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    w = shim.CRILogWriter(fd)
    w.feed("stdout", b"a\nb")
    w.feed("stderr", b"err\n")
    w.feed("stdout", b"c\n" + b"x" * (shim.MAX_LOG_LINE + 5))
    w.close("stdout")
    w.close("stderr")
    os.close(fd)
    lines = path.read_text().splitlines()
    pat = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")
    parsed = [pat.match(ln).groups() for ln in lines]
    assert [(s, t, len(x)) for s, t, x in parsed] == [
        ("stdout", "F", 1), ("stderr", "F", 3), ("stdout", "F", 2),
        ("stdout", "P", shim.MAX_LOG_LINE), ("stdout", "F", 5)]
    assert parsed[2][2] == "bc"


def test_rfc3339_nano() -> None:
    assert shim.rfc3339_nano(1_767_225_600_000_000_001) == "2026-01-01T00:00:00.000000001Z"


def test_mountinfo_escapes_are_decoded() -> None:
    assert linux._OCTAL.sub(lambda m: chr(int(m.group(1), 8)), r"/a\040b\011c") == "/a b\tc"
