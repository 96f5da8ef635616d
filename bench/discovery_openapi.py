"""How long discovery and OpenAPI documents take to build, cold (first request after start, the
client's model classes not yet imported) and cached, and how large they are.

Run: `.venv/bin/python -m bench.discovery_openapi` (a fresh process, so "cold" is cold).
Prints one line per figure (`name value`) and a final JSON line. Goal: everything built well
under 1 s in total."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - t) * 1000


def main() -> dict[str, float]:
    figures: dict[str, float] = {}

    def line(name: str, value: float) -> None:
        figures[name] = round(value, 2)
        sys.stdout.write(f"{name} {value:.2f}\n")

    t = time.perf_counter()
    import orjson

    from apimachinery.resources import Registry, ResourceInfo
    from apiserver import discovery, openapi
    line("import_ms", (time.perf_counter() - t) * 1000)

    registry = Registry()
    _, ms = timed(lambda: orjson.dumps(discovery.aggregated_discovery(registry, False)))
    line("discovery.aggregated_apis_ms", ms)
    _, ms = timed(lambda: orjson.dumps(discovery.aggregated_discovery(registry, True)))
    line("discovery.aggregated_api_ms", ms)
    _, ms = timed(lambda: [discovery.api_resource_list(registry, r.group, r.version) for r in registry])
    line("discovery.all_legacy_lists_ms", ms)
    cache = discovery.DocumentCache()
    cache.json(1, discovery.aggregated_discovery, registry, False)
    _, ms = timed(lambda: [cache.json(1, discovery.aggregated_discovery, registry, False) for _ in range(1000)])
    line("discovery.cached_lookup_us", ms)  # 1000 lookups in ms == one lookup in µs

    index, ms = timed(lambda: openapi.openapi_v3_index(registry))
    line("openapi.index_cold_ms", ms)
    _, ms = timed(lambda: openapi.openapi_v3_document(registry, "", "v1"))
    line("openapi.core_v1_cold_ms", ms)
    _, ms = timed(lambda: openapi.openapi_v3_document(registry, "apps", "v1"))
    line("openapi.apps_v1_cold_ms", ms)
    sizes = 0
    t = time.perf_counter()
    for path in index["paths"]:
        found = openapi.openapi_v3_path_document(registry, path)
        sizes += len(found[0]) if found else 0
    line("openapi.remaining_documents_ms", (time.perf_counter() - t) * 1000)
    line("openapi.documents", len(index["paths"]))
    line("openapi.total_mb", sizes / 1e6)
    _, ms = timed(lambda: [openapi.openapi_v3_path_document(registry, p) for p in index["paths"]])
    line("openapi.all_cached_ms", ms)
    _, ms = timed(lambda: openapi.openapi_v3_index(registry))
    line("openapi.index_ms", ms)

    registry.add(ResourceInfo("stable.example.com", "v1", "CronTab", "crontabs"))
    _, ms = timed(lambda: openapi.openapi_v3_document(registry, "stable.example.com", "v1"))
    line("openapi.crd_document_ms", ms)
    line("total_cold_ms", sum(v for k, v in figures.items() if k.endswith("_ms") and "cached" not in k
                              and k not in ("openapi.index_ms",)))
    sys.stdout.write(json.dumps({"bench": "discovery_openapi", **figures}) + "\n")
    return figures


if __name__ == "__main__":
    main()
