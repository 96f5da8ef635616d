"""SPDY/3.1 framing, as much of it as ``kubectl port-forward`` speaks.

Why it exists: since Kubernetes 1.31 kubectl tunnels port-forward's SPDY session inside a
WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``); the kubelet server answers it with
this module.  Pure: bytes in, frames out, frames in, bytes out; no sockets, no asyncio.

Header blocks are zlib streams primed with the SPDY/3 dictionary, one continuous context per
direction (``HeaderCodec`` holds one compressor and one decompressor for a connection).  The
incoming byte stream need not be frame-aligned (``FrameParser.feed`` buffers partial frames).

What it must never do: share a compression context between two connections or two
directions, or accept a frame longer than ``MAX_FRAME`` (a peer cannot make it buffer more).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5
MAX_FRAME = 1 << 24


def _dictionary() -> bytes:
    """The SPDY/3 header-compression dictionary (draft 3, section 2.6.10.1): length-prefixed
    common header names and values, then a run of status codes, dates and media types."""
    words = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date "
             "etag expect expires from host if-match if-modified-since if-none-match if-range "
             "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
             "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
             "user-agent vary via warning www-authenticate method get status").split()
    words += ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    head = b"".join(struct.pack("!I", len(w)) + w.encode() for w in words)
    tail = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
            "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
            "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
            "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
            "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
            "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return head + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3."""


@dataclass
class Frame:
    """One frame.  Control frames have ``type`` > 0; DATA frames have ``type`` 0.
    ``headers`` is set for SYN_STREAM/SYN_REPLY/HEADERS (decoded), ``data`` for DATA and for
    control payloads this module does not decode further; ``value`` is the status code of
    RST_STREAM/GOAWAY, the ping id of PING, the delta of WINDOW_UPDATE."""

    type: int
    stream_id: int = 0
    flags: int = 0
    headers: dict[str, list[str]] = field(default_factory=dict)
    data: bytes = b""
    value: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class HeaderCodec:
    """The two zlib contexts of one connection (one per direction)."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                   zdict=DICTIONARY)
        self._d = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: dict[str, list[str]]) -> bytes:
        raw = [struct.pack("!I", len(headers))]
        for name, values in headers.items():
            n = name.lower().encode()
            v = b"\x00".join(x.encode() for x in values)
            raw += [struct.pack("!I", len(n)), n, struct.pack("!I", len(v)), v]
        return self._z.compress(b"".join(raw)) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, list[str]]:
        try:
            raw = self._d.decompress(block)
        except zlib.error as e:
            raise ProtocolError(f"header block: {e}") from None
        try:
            (n,) = struct.unpack_from("!I", raw, 0)
            pos, out = 4, {}
            for _ in range(n):
                (ln,) = struct.unpack_from("!I", raw, pos)
                name = raw[pos + 4:pos + 4 + ln].decode()
                pos += 4 + ln
                (lv,) = struct.unpack_from("!I", raw, pos)
                value = raw[pos + 4:pos + 4 + lv].decode()
                pos += 4 + lv
                out[name] = value.split("\x00")
        except (struct.error, UnicodeDecodeError) as e:
            raise ProtocolError(f"header block: {e}") from None
        if pos != len(raw):
            raise ProtocolError("header block: trailing bytes")
        return out


def _control(ftype: int, flags: int, payload: bytes) -> bytes:
    return struct.pack("!HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack("!II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


def syn_stream(codec: HeaderCodec, stream_id: int, headers: dict[str, list[str]], fin: bool = False) -> bytes:
    payload = struct.pack("!IIH", stream_id, 0, 0) + codec.encode(headers)
    return _control(SYN_STREAM, FLAG_FIN if fin else 0, payload)


def syn_reply(codec: HeaderCodec, stream_id: int, headers: dict[str, list[str]] | None = None,
              fin: bool = False) -> bytes:
    return _control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack("!I", stream_id) + codec.encode(headers or {}))


def rst_stream(stream_id: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack("!II", stream_id, status))


def ping(ping_id: int) -> bytes:
    return _control(PING, 0, struct.pack("!I", ping_id))


def goaway(last_stream_id: int, status: int = 0) -> bytes:
    return _control(GOAWAY, 0, struct.pack("!II", last_stream_id, status))


class FrameParser:
    """Frames out of a byte stream that may arrive in arbitrary pieces."""

    def __init__(self, codec: HeaderCodec) -> None:
        self._codec = codec
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            w0, w1 = struct.unpack_from("!II", self._buf, 0)
            flags, length = w1 >> 24, w1 & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if not w0 & 0x80000000:
                frames.append(Frame(0, w0 & 0x7FFFFFFF, flags, data=payload))
                continue
            version, ftype = (w0 >> 16) & 0x7FFF, w0 & 0xFFFF
            if version != VERSION:
                raise ProtocolError(f"unsupported SPDY version {version}")
            frames.append(self._control(ftype, flags, payload))
        return frames

    def _control(self, ftype: int, flags: int, p: bytes) -> Frame:
        try:
            if ftype == SYN_STREAM:
                sid = struct.unpack_from("!I", p, 0)[0] & 0x7FFFFFFF
                return Frame(ftype, sid, flags, headers=self._codec.decode(p[10:]))
            if ftype in (SYN_REPLY, HEADERS):
                sid = struct.unpack_from("!I", p, 0)[0] & 0x7FFFFFFF
                return Frame(ftype, sid, flags, headers=self._codec.decode(p[4:]))
            if ftype in (RST_STREAM, WINDOW_UPDATE):
                sid, v = struct.unpack_from("!II", p, 0)
                return Frame(ftype, sid & 0x7FFFFFFF, flags, value=v & 0x7FFFFFFF if ftype == WINDOW_UPDATE else v)
            if ftype == PING:
                return Frame(ftype, 0, flags, value=struct.unpack_from("!I", p, 0)[0])
            if ftype == GOAWAY:
                sid, v = struct.unpack_from("!II", p, 0)
                return Frame(ftype, sid & 0x7FFFFFFF, flags, value=v)
        except struct.error:
            raise ProtocolError(f"short control frame of type {ftype}") from None
        return Frame(ftype, 0, flags, data=p)  # SETTINGS and unknown types: passed through


__all__ = ["DICTIONARY", "FLAG_FIN", "Frame", "FrameParser", "GOAWAY", "HEADERS", "HeaderCodec", "PING",
           "ProtocolError", "RST_STREAM", "SETTINGS", "SYN_REPLY", "SYN_STREAM", "WINDOW_UPDATE", "data_frame",
           "goaway", "ping", "rst_stream", "syn_reply", "syn_stream"]
