"""The built-in ``busybox`` image, made from the machine's static busybox binary.

Why: a fresh machine has no registry access, yet ``kubectl run x --image=busybox`` must work.
One deterministic layer (fixed timestamps and owners) holds ``/bin/busybox``, a symlink per
applet (``busybox --list-full``), ``/etc/passwd`` and ``/etc/group`` with root and nobody, and
the usual empty directories; the config says ``Cmd ["sh"]`` like the official image.  The same
binary always gives the same image ID.

What it must never do: replace an image the user imported under the same tag.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import tarfile

from kubelet.images.store import Image, ImageError, ImageStore

log = logging.getLogger(__name__)

BUSYBOX = "/bin/busybox"
REF = "docker.io/library/busybox:latest"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/home:/bin/false\n")
GROUP = "root:x:0:\nnobody:x:65534:\n"
DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
        "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755,
        "usr/sbin": 0o755, "var": 0o755, "var/tmp": 0o1777, "run": 0o755}


def busybox_version(binary: str = BUSYBOX) -> str | None:
    out = subprocess.run([binary], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"BusyBox v(\d+\.\d+(?:\.\d+)?)", out)
    return m.group(1) if m else None


def build_layer(binary: str = BUSYBOX) -> bytes:
    """The layer as an uncompressed, reproducible tar."""
    listing = subprocess.run([binary, "--list-full"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.split()
    buf = io.BytesIO()

    def info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = kind, mode, 0, 0, 0, "", ""
        return ti

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d, mode in sorted(DIRS.items()):
            tar.addfile(info(d, tarfile.DIRTYPE, mode))
        with open(binary, "rb") as f:
            data = f.read()
        ti = info("bin/busybox", tarfile.REGTYPE, 0o755)
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
        seen = {"bin/busybox"}
        for path in sorted(set(listing)):
            path = path.lstrip("/")
            if path in seen or "/" not in path or path.split("/")[0] not in ("bin", "sbin", "usr"):
                continue
            seen.add(path)
            ti = info(path, tarfile.SYMTYPE, 0o777)
            ti.linkname = "/bin/busybox"
            tar.addfile(ti)
        for name, text, mode in (("etc/passwd", PASSWD, 0o644), ("etc/group", GROUP, 0o644),
                                 ("etc/hostname", "", 0o644), ("etc/hosts", "", 0o644),
                                 ("etc/resolv.conf", "", 0o644)):
            raw = text.encode()
            ti = info(name, tarfile.REGTYPE, mode)
            ti.size = len(raw)
            tar.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def ensure_busybox(store: ImageStore, binary: str = BUSYBOX, force: bool = False) -> Image:
    """Return the ``busybox`` image, building it when the store has none."""
    if not force and (img := store.resolve(REF)) is not None:
        return img
    if not os.path.exists(binary):
        raise ImageError(f"{binary} not found: install busybox-static to get the built-in image")
    version = busybox_version(binary)
    tags = [REF]
    if version:
        tags.append(f"docker.io/library/busybox:{version}")
        short = ".".join(version.split(".")[:2])
        if short != version:
            tags.append(f"docker.io/library/busybox:{short}")
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": f"mizzen: busybox {version or ''} from {binary}"}],
    }
    log.info("building the busybox image from %s", binary)
    return store.add_image(config, [build_layer(binary)], tags)
