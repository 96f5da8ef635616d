"""`mizzen image import|ls|rm`, and a pod running from an imported image with no registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubelet.images.busybox import build_layer
from mizzen.testing import Cluster, docker_save_archive, tar_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def mizzen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mizzen.cli", *args], capture_output=True, text=True, timeout=120)


def test_import_ls_run_rm(tmp_path: Path) -> None:
    archive = tmp_path / "app.tar"
    app_layer = tar_bytes([("srv", None, 0o755), ("srv/greeting", b"hello from an imported image\n", 0o644)])
    image_id = docker_save_archive(str(archive), "example.com/team/app:1.0", [build_layer(), app_layer],
                                   {"Cmd": ["sh", "-c", "cat /srv/greeting; sleep 3600"], "WorkingDir": "/srv"})
    with Cluster.start(tmp_path, "--runtime", "real") as c:
        imported = mizzen("image", "import", str(archive), "--data-dir", str(c.data_dir))
        assert imported.returncode == 0, imported.stderr
        assert "example.com/team/app:1.0" in imported.stdout and image_id in imported.stdout
        ls = mizzen("image", "ls", "--data-dir", str(c.data_dir)).stdout.splitlines()
        assert ls[0].split() == ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]
        row = next(line.split() for line in ls if line.startswith("example.com/team/app"))
        assert row[:3] == ["example.com/team/app", "1.0", image_id.removeprefix("sha256:")[:13]]
        c.kubectl("run", "app", "--image=example.com/team/app:1.0", "--image-pull-policy=Never")
        c.kubectl("wait", "--for=condition=Ready", "pod/app", "--timeout=60s")
        c.wait_for(lambda: "hello from an imported image" in c.kubectl("logs", "app").out, what="logs")
        assert c.kubectl("exec", "app", "--", "pwd").out.strip() == "/srv"
        c.kubectl("delete", "pod", "app", "--grace-period=1", "--wait")
        removed = mizzen("image", "rm", "example.com/team/app:1.0", "--data-dir", str(c.data_dir))
        assert removed.returncode == 0 and "example.com/team/app:1.0" in removed.stdout
        assert "example.com/team/app" not in mizzen("image", "ls", "--data-dir", str(c.data_dir)).stdout
        missing = mizzen("image", "rm", "example.com/team/app:1.0", "--data-dir", str(c.data_dir))
        assert missing.returncode == 1 and "not found" in missing.stderr
