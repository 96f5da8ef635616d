"""What `mizzen up` runs next to the API server: the controller manager, the scheduler and
the kubelets, each an ordinary API client of the server it was given a kubeconfig for.

Each component is optional here: one whose package is not built yet is skipped."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

log = logging.getLogger(__name__)


async def start_components(args: argparse.Namespace, data_dir: Path, kubeconfig: Path,
                           stop: asyncio.Event) -> list[asyncio.Task[None]]:
    tasks: list[asyncio.Task[None]] = []
    return tasks
