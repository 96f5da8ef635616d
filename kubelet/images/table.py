"""``mizzen image ls`` output, in crictl's format (IMAGE, TAG, IMAGE ID, SIZE).

Why: users compare with ``crictl images``; the CLI prints this table as is.  Pure functions.
What it must never do: read the store itself (it formats what it is given).
"""

from __future__ import annotations

from collections.abc import Iterable

from kubelet.images import refs
from kubelet.images.store import Image

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(size: float) -> str:
    """Decimal units with 3 significant digits, as docker's units.HumanSize: 1985561 -> 1.99MB."""
    i = 0
    while size >= 1000 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.3g}{_UNITS[i]}"


def image_rows(images: Iterable[Image]) -> list[tuple[str, str, str, str]]:
    rows = []
    for img in images:
        short_id = img.id.removeprefix("sha256:")[:13]
        size = human_size(img.size)
        tags = img.repo_tags or []
        if not tags:
            rows.append(("<none>", "<none>", short_id, size))
        for t in tags:
            r = refs.parse(t)
            rows.append((r.name, r.tag or "<none>", short_id, size))
    rows.sort()
    return rows


def format_images(images: Iterable[Image]) -> str:
    rows = [("IMAGE", "TAG", "IMAGE ID", "SIZE"), *image_rows(images)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join(f"{r[0]:<{widths[0]}}   {r[1]:<{widths[1]}}   {r[2]:<{widths[2]}}   {r[3]}\n" for r in rows)
