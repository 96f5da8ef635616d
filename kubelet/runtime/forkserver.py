"""The fork server: a small single-threaded process that forks shims and exec helpers.

Why: forking a threaded asyncio process is unsafe (locks held by other threads stay locked
in the child), and starting a fresh Python interpreter per container costs ~100 ms.  So the
kubelet starts this process once (a fresh interpreter, hence single-threaded whatever the
kubelet's state), with everything a shim needs already imported.  Each request arrives as
one byte on the control socket carrying file descriptors (SCM_RIGHTS): first the request's
own connection (the shim reads the request from it and answers on it), then optional stdio
fds for ``exec``.  The fork server only accepts and forks; it never reads a request itself,
so one slow container start never delays another.

Lifetime: it stops accepting when the control socket closes (the kubelet exited or died),
then waits until its last shim exits, so shims are always reaped by a living parent (on this
machine PID 1 does not reap orphans).  Shims run in their own session, so they outlive it.

What it must never do: start a thread, or do any work for a request in its own process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys

from kubelet.runtime import linux, shim

MAX_FDS = 8


def serve(ctrl_fd: int, keep: list[str] | None = None) -> None:
    """Serve requests until the control socket closes. ``keep``: the paths a container's
    set-up needs (state, writable layers, images): with them, containers' mount namespaces
    are copies of a template holding only what holds those (``shim.make_mount_template``)."""
    template = -1
    if keep:
        try:
            template = shim.make_mount_template(keep)
        except OSError as exc:
            print(f"mizzen-forksrv: no template mount namespace ({exc}); containers copy the host's",
                  file=sys.stderr, flush=True)
    # Shims are forks of this process and live as long as their containers: keep the pages
    # they share with us shared.  A frozen, disabled GC never writes into old objects' headers.
    linux.last_cap()  # read once here, not in every container's set-up
    gc.disable()
    gc.freeze()
    ctrl = socket.socket(fileno=ctrl_fd)
    # Shims are reaped by the kernel while we serve; after the control socket closes, wait()
    # blocks until every child has exited (that is SIG_IGN's documented behaviour).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    changed = shim.changed_signals()   # what each shim must reset
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctrl, 16, MAX_FDS)
        except InterruptedError:
            continue
        except OSError:
            break
        if not msg and not fds:
            break
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            try:
                ctrl.close()
                shim.serve_connection(fds[0], fds[1:], template, changed)
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
    ctrl.close()
    with contextlib.suppress(ChildProcessError):
        os.wait()


def main() -> None:
    shim.set_process_name("mizzen-forksrv")
    serve(int(sys.argv[1]), sys.argv[2:])


if __name__ == "__main__":
    main()
