"""Jobs under load on `mizzen up --nodes N --runtime simulated`: how long a Job of many
short pods (NonIndexed, then Indexed) takes from `kubectl apply` to Complete, and so how many
pods per second the Job controller creates, counts and releases.

Prints one line per figure and a final machine-readable `BENCH jobs {...}` line.

Usage: python bench/jobs.py [--completions 200] [--parallelism 50] [--nodes 4]"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mizzen.testing import Cluster  # noqa: E402


def job(name: str, completions: int, parallelism: int, mode: str) -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
  completions: {completions}
  parallelism: {parallelism}
  completionMode: {mode}
  template:
    metadata:
      annotations: {{simulated.mizzen.io/fail: succeed}}
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: busybox}}]
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--completions", type=int, default=200)
    ap.add_argument("--parallelism", type=int, default=50)
    ap.add_argument("--nodes", type=int, default=4)
    a = ap.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mizzen-bench-jobs") as tmp, \
            Cluster.start(Path(tmp), "--nodes", str(a.nodes), "--runtime", "simulated") as c:
        for mode in ("NonIndexed", "Indexed"):
            name = mode.lower()
            t0 = time.monotonic()
            c.kubectl("apply", "-f", "-", input=job(name, a.completions, a.parallelism, mode))
            c.kubectl("wait", "--for=condition=Complete", f"job/{name}", "--timeout=600s", timeout=620)
            dt = time.monotonic() - t0
            pods = len(c.kubectl("get", "pods", "-l", f"job-name={name}", "-o", "name").out.split())
            succeeded = json.loads(c.kubectl("get", "job", name, "-o", "json").out)["status"].get("succeeded")
            figures[f"{name}_pods_created"] = pods
            figures[f"{name}_succeeded"] = succeeded
            figures[f"{name}_seconds"] = round(dt, 2)
            figures[f"{name}_pods_per_second"] = round(a.completions / dt, 1)
            print(f"{mode} Job, {a.completions} completions, parallelism {a.parallelism}: {dt:.2f} s "
                  f"({a.completions / dt:.1f} pods/s); pods created {pods}, succeeded {succeeded}")
    print("BENCH jobs " + json.dumps(figures))


if __name__ == "__main__":
    main()
