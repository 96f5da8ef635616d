"""Service cluster IPs and node ports, allocated as kube-apiserver's Service REST layer does.

Cluster IPs come from the service CIDR (Kubernetes' default 10.96.0.0/12; the first address,
10.96.0.1, is the `kubernetes` Service's), node ports from 30000-32767. What is taken is
read from the stored Services, plus what this process handed out and has not yet seen
stored, so that two concurrent creates never get the same address.

These addresses exist only inside the nodes' network namespaces (pod networking): nothing
here touches the machine's network."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from typing import Any

from apimachinery.errors import Cause, Invalid

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)
KUBERNETES_SERVICE_IP = "10.96.0.1"


def _used(services: Iterable[dict[str, Any]]) -> tuple[set[str], set[int]]:
    ips: set[str] = set()
    ports: set[int] = set()
    for s in services:
        spec = s.get("spec") or {}
        for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
            ips.add(ip)
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and p.get("nodePort"):
                ports.add(int(p["nodePort"]))
    return ips, ports


class ServiceAllocator:
    def __init__(self, cidr: ipaddress.IPv4Network = SERVICE_CIDR, ports: range = NODE_PORT_RANGE):
        self.cidr = cidr
        self.ports = ports
        self._pending_ips: set[str] = set()
        self._pending_ports: set[int] = set()

    def allocate(self, svc: dict[str, Any], existing: Iterable[dict[str, Any]], old: dict[str, Any] | None = None,
                 ) -> None:
        """Fill spec.clusterIP(s), ipFamilies and node ports of `svc` in place, or raise
        Invalid when an asked-for address is taken."""
        spec = svc.setdefault("spec", {})
        stype = spec.get("type") or "ClusterIP"
        if stype == "ExternalName":
            return
        ips, ports = _used(s for s in existing if s["metadata"].get("uid") != svc["metadata"].get("uid"))
        ips |= self._pending_ips
        ports |= self._pending_ports
        name = svc["metadata"].get("name", "")
        ip = spec.get("clusterIP") or ""
        if not ip and spec.get("clusterIPs"):
            ip = spec["clusterIPs"][0]
        if ip and ip != "None":
            if (old is None or (old.get("spec") or {}).get("clusterIP") != ip) and ip in ips:
                raise Invalid("Service", name, [Cause("spec.clusterIPs", f'Invalid value: []string{{"{ip}"}}: '
                              f"failed to allocate IP {ip}: provided IP is already allocated")])
        elif not ip:
            ip = self._free_ip(ips)
            self._pending_ips.add(ip)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        if ip != "None":
            spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if stype in ("NodePort", "LoadBalancer"):
            for p in spec.get("ports") or []:
                if not isinstance(p, dict):
                    continue
                if p.get("nodePort"):
                    continue
                port = self._free_port(ports)
                ports.add(port)
                self._pending_ports.add(port)
                p["nodePort"] = port

    def stored(self, svc: dict[str, Any]) -> None:
        """The Service was written (or failed): its addresses are now read from storage."""
        ips, ports = _used([svc])
        self._pending_ips -= ips
        self._pending_ports -= ports

    def _free_ip(self, used: set[str]) -> str:
        first = int(self.cidr.network_address) + 2  # .0 is the network, .1 the kubernetes Service
        size = self.cidr.num_addresses - 3
        start = random.randrange(size)
        for i in range(size):
            candidate = str(ipaddress.ip_address(first + (start + i) % size))
            if candidate not in used:
                return candidate
        raise Invalid("Service", "", [Cause("spec.clusterIPs", "failed to allocate a serviceIP: range is full")])

    def _free_port(self, used: set[int]) -> int:
        start = random.randrange(len(self.ports))
        for i in range(len(self.ports)):
            candidate = self.ports[(start + i) % len(self.ports)]
            if candidate not in used:
                return candidate
        raise Invalid("Service", "", [Cause("spec.ports", "failed to allocate a nodePort: range is full")])
