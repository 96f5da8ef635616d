"""TLS connections served straight from non-blocking `ssl.SSLSocket`s, as asyncio transports.

Why it exists: with asyncio's (or uvloop's) own TLS, every read and write goes through a
memory BIO: the socket's bytes are copied into OpenSSL by one call, taken out decrypted by
another, and each goes through `ssl.SSLObject`'s Python wrappers. Measured here for a small
request and its answer, that was half of what the HTTP server cost per request (26 of 52 us,
the same exchange costing 26 us in plain TCP). Here OpenSSL reads and writes the socket
itself: a read is one `recv` (read(2) and decryption in one C call), a write one `send`.

What it offers is the part of `asyncio.Transport` that the HTTP server and the WebSocket
protocol it hands upgrades to use: write with back-pressure (pause_writing/resume_writing at
the write buffer limits), pause/resume reading, close after the buffer is flushed (sending
TLS close_notify), abort, set_protocol, and the usual extra info (peername, sockname,
socket, sslcontext, ssl_object, peercert, cipher).

What it must never do: block (every socket call is non-blocking; an operation OpenSSL
cannot finish is retried on readiness), or retry a write with other bytes than it was first
given (OpenSSL requires the same buffer after SSL_ERROR_WANT_WRITE, so queued data is joined
only into the next write, never into the one in flight)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
HANDSHAKE_TIMEOUT = 60.0  # seconds a client has to complete its TLS handshake (asyncio's default)
HIGH_WATER = 64 * 1024
ACCEPTS_PER_WAKE = 64
_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


class TLSListener:
    """Accepts TCP connections on `sock` and serves each over TLS with a protocol from
    `protocol_factory` once its handshake is done."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, context: ssl.SSLContext,
                 protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        self.loop = loop
        self.sock = sock
        self.context = context
        self.protocol_factory = protocol_factory
        self.transports: set[TLSTransport] = set()
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._accept)
        self.serving = True

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the next wake tries again
                log.warning("accept failed: %s", exc)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                tls = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS set-up failed: %s", exc)
                conn.close()
                continue
            TLSTransport(self, tls, self.protocol_factory())

    def close(self) -> None:
        """Stop accepting; connections still in their handshake are closed, open ones are
        left to their protocols."""
        if self.serving:
            self.serving = False
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
        for t in list(self.transports):
            if t.handshaking:
                t.abort()


class TLSTransport(asyncio.Transport):
    def __init__(self, listener: TLSListener, sock: ssl.SSLSocket, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self._listener = listener
        self._loop = listener.loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._handshaking = True
        self._closing = False  # close() called: no more writes, close once flushed
        self._closed = False
        self._reading = False
        self._read_paused = False
        self._writing = False  # a writer is registered
        self._inflight = b""  # what the last send could not finish (retried as is)
        self._queue: list[bytes] = []
        self._queued = 0
        self._write_paused = False
        self._high = HIGH_WATER
        self._low = HIGH_WATER // 4
        self._read_wants_write = False
        self._extra: dict[str, Any] = {"socket": sock, "sslcontext": listener.context}
        try:
            self._extra["peername"] = sock.getpeername()
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            pass
        listener.transports.add(self)
        self._handshake_timer: asyncio.TimerHandle | None = self._loop.call_later(HANDSHAKE_TIMEOUT, self.abort)
        self._want_read()
        self._handshake()

    @property
    def handshaking(self) -> bool:
        return self._handshaking

    # -- readiness

    def _want_read(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)

    def _unwant_read(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _want_write(self) -> None:
        if not self._writing and not self._closed:
            self._writing = True
            self._loop.add_writer(self._fd, self._on_writable)

    def _unwant_write(self) -> None:
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def _handshake(self) -> None:
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            self._unwant_write()
            return
        except ssl.SSLWantWriteError:
            self._want_write()
            return
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake failed: %s", exc)
            self._force_close(None, notify=False)
            return
        self._handshaking = False
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        self._unwant_write()
        self._extra["ssl_object"] = self._sock
        self._protocol.connection_made(self)
        if not self._closing and not self._read_paused:
            self._read()  # data that came with the handshake's last flight

    def _on_readable(self) -> None:
        if self._handshaking:
            self._handshake()
        elif self._read_wants_write:
            return  # the pending read is retried when the socket is writable
        else:
            self._read()
            if self._inflight and not self._closed:
                self._flush()  # a write that waited for a read (renegotiation, key update)

    def _on_writable(self) -> None:
        if self._handshaking:
            self._handshake()
            return
        if self._read_wants_write:
            self._read_wants_write = False
            self._read()
        self._flush()

    # -- reading

    def _read(self) -> None:
        sock = self._sock
        while not self._read_paused and not self._closing:
            try:
                data = sock.recv(READ_SIZE)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLWantWriteError:
                self._read_wants_write = True
                self._want_write()
                return
            except (ssl.SSLError, OSError) as exc:
                self._force_close(exc)
                return
            if not data:  # the peer closed (close_notify or a plain EOF)
                self._unwant_read()
                keep_open = self._protocol.eof_received()
                if not keep_open:
                    self.close()
                return
            self._protocol.data_received(data)
            if len(data) < READ_SIZE and not sock.pending():
                return  # the socket is drained or nearly: the next readiness brings the rest

    def pause_reading(self) -> None:
        if not self._read_paused:
            self._read_paused = True
            self._unwant_read()

    def resume_reading(self) -> None:
        if self._read_paused and not self._closing:
            self._read_paused = False
            self._want_read()
            if self._sock.pending():  # decrypted bytes OpenSSL holds wake no reader
                self._loop.call_soon(self._on_readable)

    def is_reading(self) -> bool:
        return not self._read_paused and not self._closing

    # -- writing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._closed or not data:
            return
        if self._inflight or self._queue:
            self._queue.append(bytes(data))
            self._queued += len(data)
            self._check_high()
            return
        try:
            self._sock.send(data)
        except _WANT:
            self._inflight = bytes(data)
            self._queued += len(data)
            self._want_write()
            self._check_high()
        except (ssl.SSLError, OSError) as exc:
            self._force_close(exc)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def _flush(self) -> None:
        sock = self._sock
        while not self._closed:
            if not self._inflight:
                if not self._queue:
                    break
                self._inflight = self._queue[0] if len(self._queue) == 1 else b"".join(self._queue)
                self._queue.clear()
            try:
                sock.send(self._inflight)
            except _WANT:
                self._want_write()
                self._check_low()
                return
            except (ssl.SSLError, OSError) as exc:
                self._force_close(exc)
                return
            self._queued -= len(self._inflight)
            self._inflight = b""
        self._unwant_write()
        self._check_low()
        if self._closing and not self._closed:
            self._finish_close()

    def _check_high(self) -> None:
        if not self._write_paused and self._queued > self._high:
            self._write_paused = True
            try:
                self._protocol.pause_writing()
            except Exception:
                log.exception("pause_writing failed")

    def _check_low(self) -> None:
        if self._write_paused and self._queued <= self._low:
            self._write_paused = False
            try:
                self._protocol.resume_writing()
            except Exception:
                log.exception("resume_writing failed")

    def get_write_buffer_size(self) -> int:
        return self._queued

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = HIGH_WATER if high is None else high
        self._low = self._high // 4 if low is None else low
        self._check_high()

    def can_write_eof(self) -> bool:
        return False

    # -- closing

    def is_closing(self) -> bool:
        return self._closing or self._closed

    def close(self) -> None:
        if self._closing or self._closed:
            return
        self._closing = True
        self._unwant_read()
        if not self._inflight and not self._queue:
            self._finish_close()

    def abort(self) -> None:
        self._force_close(None)

    def _finish_close(self) -> None:
        """Send close_notify (best effort: the peer's is not waited for), then close."""
        if not self._handshaking:
            try:
                self._sock.unwrap()
            except (ssl.SSLError, OSError, ValueError):
                pass
        self._force_close(None)

    def _force_close(self, exc: Exception | None, notify: bool = True) -> None:
        if self._closed:
            return
        self._closed = self._closing = True
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        self._unwant_read()
        self._unwant_write()
        self._inflight = b""
        self._queue.clear()
        self._queued = 0
        self._listener.transports.discard(self)
        self._sock.close()
        if exc is not None and not isinstance(exc, (ConnectionError, ssl.SSLEOFError)):
            log.debug("TLS connection failed: %s", exc)
        if notify and not self._handshaking:
            self._loop.call_soon(self._protocol.connection_lost, exc)

    # -- the rest of the transport interface

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peercert":
            return self._sock.getpeercert() if not self._handshaking else default
        if name == "cipher":
            return self._sock.cipher() if not self._handshaking else default
        return self._extra.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol  # type: ignore[assignment]

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol
