"""The per-pod ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` files.

Why: every container of a pod sees the same three files, written by the kubelet (in
Kubernetes' own format) and bind-mounted into each container, so that a pod IP or a DNS change
reaches all of them.  The content is produced by pure functions; ``write_pod_files`` is the
I/O edge and returns the mounts to put into each ``ContainerSpec``.

What it must never do: write outside the pod's directory or edit the machine's own files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from kubelet.runtime.runtime import Mount

HOSTS_HEADER = ("# Kubernetes-managed hosts file.\n"
                "127.0.0.1\tlocalhost\n"
                "::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\n"
                "fe00::0\tip6-mcastprefix\n"
                "fe00::1\tip6-allnodes\n"
                "fe00::2\tip6-allrouters\n")


def hosts_file(hostname: str, pod_ips: Iterable[str] = (), domain: str = "",
               host_aliases: Iterable[Mapping] = ()) -> str:
    """Kubernetes' managed hosts file.  Example: hostname ``web-0``, IP ``10.0.0.5``, domain
    ``web.default.svc.cluster.local`` -> ``10.0.0.5\\tweb-0.web.default.svc.cluster.local\\tweb-0``."""
    out = [HOSTS_HEADER]
    for ip in pod_ips:
        if domain:
            out.append(f"{ip}\t{hostname}.{domain}\t{hostname}\n")
        else:
            out.append(f"{ip}\t{hostname}\n")
    aliases = list(host_aliases)
    if aliases:
        out.append("\n# Entries added by HostAliases.\n")
        for a in aliases:
            out.append(f"{a.get('ip', '')}\t{chr(9).join(a.get('hostnames') or [])}\n")
    return "".join(out)


def resolv_conf(nameservers: Iterable[str], searches: Iterable[str] = (), options: Iterable[str] = ()) -> str:
    lines = [f"nameserver {ns}" for ns in nameservers]
    searches = list(searches)
    if searches:
        lines.append("search " + " ".join(searches))
    options = list(options)
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def cluster_first_resolv_conf(dns_ip: str, namespace: str, cluster_domain: str = "cluster.local",
                              host_searches: Iterable[str] = ()) -> str:
    """dnsPolicy ClusterFirst: the cluster DNS, the namespace's search path, ndots:5."""
    searches = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain, *host_searches]
    return resolv_conf([dns_ip], searches, ["ndots:5"])


def host_resolv_conf(path: str = "/etc/resolv.conf") -> str:
    """dnsPolicy Default: the node's own resolver configuration."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def write_pod_files(pod_dir: str, hostname: str, hosts: str, resolv: str) -> list[Mount]:
    """Write the three files into ``pod_dir`` (atomically) and return their mounts."""
    os.makedirs(pod_dir, exist_ok=True)
    mounts = []
    for name, content, target in (("etc-hosts", hosts, "/etc/hosts"), ("hostname", hostname + "\n", "/etc/hostname"),
                                  ("resolv.conf", resolv, "/etc/resolv.conf")):
        path = os.path.join(pod_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        if os.path.exists(path):
            # keep the inode: bind mounts in running containers point at it
            with open(path, "w") as f:
                f.write(content)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        mounts.append(Mount(path, target, readonly=False))
    return mounts
