"""The per-pod /etc/hosts, /etc/hostname and /etc/resolv.conf contents (pure) and files."""

from __future__ import annotations

import os

from kubelet.runtime.podfiles import (
    HOSTS_HEADER,
    cluster_first_resolv_conf,
    hosts_file,
    resolv_conf,
    write_pod_files,
)


def test_hosts_file_cases() -> None:
    cases = [
        (dict(hostname="web"), HOSTS_HEADER),
        (dict(hostname="web", pod_ips=["10.0.0.5"]), HOSTS_HEADER + "10.0.0.5\tweb\n"),
        (dict(hostname="web-0", pod_ips=["10.0.0.5"], domain="web.default.svc.cluster.local"),
         HOSTS_HEADER + "10.0.0.5\tweb-0.web.default.svc.cluster.local\tweb-0\n"),
        (dict(hostname="web", pod_ips=["10.0.0.5"], host_aliases=[{"ip": "1.2.3.4", "hostnames": ["a", "b"]}]),
         HOSTS_HEADER + "10.0.0.5\tweb\n\n# Entries added by HostAliases.\n1.2.3.4\ta\tb\n"),
    ]
    for kwargs, expected in cases:
        assert hosts_file(**kwargs) == expected


def test_resolv_conf_cases() -> None:
    assert resolv_conf(["10.96.0.10"]) == "nameserver 10.96.0.10\n"
    assert cluster_first_resolv_conf("10.96.0.10", "team") == (
        "nameserver 10.96.0.10\nsearch team.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n")


def test_write_pod_files_keeps_inode_on_update(tmp_path) -> None:
    d = str(tmp_path / "pod")
    mounts = write_pod_files(d, "web", hosts_file("web"), resolv_conf(["1.1.1.1"]))
    assert [m.container_path for m in mounts] == ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
    inode = os.stat(mounts[0].host_path).st_ino
    write_pod_files(d, "web", hosts_file("web", ["10.0.0.9"]), resolv_conf(["1.1.1.1"]))
    assert os.stat(mounts[0].host_path).st_ino == inode       # bind mounts keep seeing it
    assert open(mounts[0].host_path).read().endswith("10.0.0.9\tweb\n")
    assert open(mounts[1].host_path).read() == "web\n"
