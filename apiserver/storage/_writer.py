"""The SQLite writer process: the store's connection, in a process of its own.

Why it exists: in the API server's process, the connection's thread and the event loop
share one interpreter lock. A batch's transaction gives the lock up and takes it back a dozen
times (every statement step, the COMMIT's fsync), and each time it wants it back while the
loop holds it, one thread sleeps, the other is woken, and the loop is preempted: measured
here, ~6 wake-ups per batch, 1,700 preemptions of the loop per second, and ~28 us of the API
server's CPU per create. In a process of its own the same transactions cost the loop one
pipe write and one pipe read per batch, and creates over HTTPS ran ~7 % faster (alternating
runs of the old and new server: -2 to +19 %, bench/api_vs_etcd.py).

What it does: it takes SQLite's exclusive lock on the file (the server opened it first, to
migrate and load it, and closed it), answers `ready`, then runs the requests it reads from
one pipe, in order, and writes one reply per request to another. A request is a marshalled
tuple `(kind, *args)` after its length (4 bytes, little-endian); a reply is `("ok", result)`
or `("error", kind, message)`:
- `("tx", log_rows, superseded)`: one write transaction (the change-log rows of a batch, and
  the rows they supersede below the compacted revision). After one fails, every `tx` is
  refused (kind `broken`: it was planned on top of the failed one) until a `("reset",)`.
- `("rows", lo, upto)`: the (revision, key) of the change-log rows lo..upto.
- `("compact", revisions, upto)`: delete those rows and remember upto as compacted.
- `("checkpoint", mode)`: a WAL checkpoint.
- `("close",)`: a TRUNCATE checkpoint, close the connection, reply and exit.

What it must never do: outlive the API server. The end of its requests (the server closed
them or died) ends it at once, and the kernel kills it when the server's process dies
(PR_SET_PDEATHSIG): a transaction cut short is rolled back by SQLite, and nothing
acknowledged was in it.

It imports nothing but the standard library and runs as `python -I -S <this file>`, so that
it starts in ~20 ms."""

from __future__ import annotations

import marshal
import os
import signal
import sqlite3
import struct
import sys
from typing import Any, BinaryIO

INSERT_LOG = "INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?)"
DELETE_LOG = "DELETE FROM log WHERE revision = ?"
SET_META = "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
_LENGTH = struct.Struct("<I")


def frame(message: Any) -> bytes:
    body = marshal.dumps(message)
    return _LENGTH.pack(len(body)) + body


def unframe(buffer: bytearray) -> list[Any]:
    """The whole messages at the start of buffer, removed from it."""
    out = []
    start = 0
    while len(buffer) - start >= 4:
        (n,) = _LENGTH.unpack_from(buffer, start)
        if len(buffer) - start - 4 < n:
            break
        out.append(marshal.loads(memoryview(buffer)[start + 4:start + 4 + n]))
        start += 4 + n
    if start:
        del buffer[:start]
    return out


def _read(stream: BinaryIO) -> Any:
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = _LENGTH.unpack(head)
    body = stream.read(n)
    if len(body) < n:
        return None
    return marshal.loads(body)


def _write(fd: int, message: Any) -> None:
    data = memoryview(frame(message))
    while data:
        data = data[os.write(fd, data):]


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the end of the requests still ends it
        pass
    if os.getppid() != parent:  # the server died before the signal was armed
        os._exit(0)


def _transaction(conn: sqlite3.Connection, *steps: tuple[str, Any]) -> None:
    conn.execute("BEGIN")
    try:
        for sql, rows in steps:
            if rows:
                conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def rollback(conn: sqlite3.Connection) -> None:
    """End a transaction that failed (what failed is what the caller reports)."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def configure(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """The connection settings of the store (the server's, while it loads, and this
    process's): SQLite's exclusive lock, WAL, and a commit that returns once it is fsynced."""
    conn.execute("PRAGMA locking_mode = EXCLUSIVE").fetchall()
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"cannot use WAL journal mode (got {mode})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}").fetchall()
    conn.execute("PRAGMA journal_size_limit = 67108864").fetchall()
    conn.execute("PRAGMA cache_size = -16384")


def _open(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn, busy_timeout_ms)
    conn.execute("BEGIN IMMEDIATE")  # the exclusive lock, held from now on
    conn.execute("COMMIT")
    return conn


def serve(conn: sqlite3.Connection, requests: BinaryIO, out: int) -> None:
    broken = False
    while True:
        message = _read(requests)
        if message is None:  # the server is gone
            os._exit(0)
        kind = message[0]
        result: Any = None
        try:
            if kind == "tx":
                if broken:
                    _write(out, ("error", "broken", "an earlier write transaction of the same batches failed"))
                    continue
                try:
                    _transaction(conn, (INSERT_LOG, message[1]), (DELETE_LOG, message[2]))
                except BaseException:
                    broken = True
                    raise
            elif kind == "reset":
                broken = False
            elif kind == "rows":
                result = conn.execute("SELECT revision, key FROM log WHERE revision BETWEEN ? AND ?",
                                      (message[1], message[2])).fetchall()
            elif kind == "compact":
                _transaction(conn, (DELETE_LOG, message[1]), (SET_META, [("compacted", message[2])]))
            elif kind == "checkpoint":
                # fetchall: the PRAGMA returns a row; an unfinished statement would block the next COMMIT.
                conn.execute(f"PRAGMA wal_checkpoint({message[1]})").fetchall()
            elif kind == "close":
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                conn.close()
                _write(out, ("ok", None))
                return
            else:
                raise ValueError(f"unknown request {kind!r}")
        except (sqlite3.Error, OSError, ValueError) as exc:
            _write(out, ("error", type(exc).__name__, str(exc)))
            continue
        _write(out, ("ok", result))


def main(argv: list[str]) -> int:
    """argv: the database, the busy timeout (ms), the server's pid, the requests' and the
    replies' file descriptors."""
    path, busy_timeout_ms, parent, requests_fd, out = argv[1], int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5])
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle: it closes us
    try:
        conn = _open(path, busy_timeout_ms)
    except sqlite3.Error as exc:
        _write(out, ("error", type(exc).__name__, str(exc)))
        return 1
    _write(out, ("ok", "ready"))
    with open(requests_fd, "rb", buffering=1 << 20) as requests:
        serve(conn, requests, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
