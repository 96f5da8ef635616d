"""Pure parts of the kubelet server: CRI log parsing, log options and selection, the exec
exit Status, and SPDY/3.1 framing and header compression (as Go's spdystream writes it)."""

from __future__ import annotations

import struct
import zlib

import pytest

from apimachinery import spdy
from kubelet.server import (
    CRIParser,
    LogOptions,
    LogRecord,
    exit_status,
    log_options,
    parse_time,
    render,
    render_fast,
    rfc3339_nano_out,
    select_records,
    terminal_size,
)

T0 = "2026-11-30T05:00:00.000000000Z"
T1 = "2026-11-30T05:00:01.500000000Z"
T2 = "2026-11-30T05:00:02.000000000Z"


def test_cri_lines_joined_split_and_skipped() -> None:
    p = CRIParser()
    data = (f"{T0} stdout P hel\n{T0} stderr F oops\n{T1} stdout P lo wor\n{T1} stdout F ld\n"
            f"garbage line\n{T2} stdout F \n{T2} stdout P tail").encode()
    recs = []
    for i in range(0, len(data), 7):      # any split of the bytes
        recs += p.feed(data[i:i + 7])
    recs += p.feed(b"\n")
    assert [(r.ts, r.stream, r.content) for r in recs] == [
        (T0, "stderr", b"oops"), (T0, "stdout", b"hello world"), (T2, "stdout", b"")]
    rest = p.flush()
    assert [(r.content, r.complete) for r in rest] == [(b"tail", False)]
    assert render(rest[0], False) == b"tail"
    assert render(recs[1], True) == b"2026-11-30T05:00:00Z hello world\n"


@pytest.mark.parametrize("ts,out", [
    ("2026-11-30T05:00:01.500000000Z", "2026-11-30T05:00:01.5Z"),
    ("2026-11-30T05:00:01.000000000Z", "2026-11-30T05:00:01Z"),
    ("2026-11-30T05:00:01.123456789Z", "2026-11-30T05:00:01.123456789Z"),
    ("2026-11-30T05:00:10.000000100Z", "2026-11-30T05:00:10.0000001Z"),
    ("2026-11-30T05:00:10Z", "2026-11-30T05:00:10Z"),
])
def test_timestamps_printed_as_go_rfc3339nano(ts: str, out: str) -> None:
    assert rfc3339_nano_out(ts) == out
    data = f"{ts} stdout F x\n".encode()
    assert render_fast(data, None, True) == (f"{out} x\n".encode(), b"")


@pytest.mark.parametrize("value,expected", [
    ("2026-11-30T05:00:00Z", 1796014800.0),
    ("2026-11-30T05:00:01.5Z", 1796014801.5),
    ("2026-11-30T05:00:01.500000000Z", 1796014801.5),
    ("2026-11-30T06:00:00+01:00", 1796014800.0),
    ("2026-11-30T04:30:00-00:30", 1796014800.0),
])
def test_parse_time(value: str, expected: float) -> None:
    assert parse_time(value) == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["yesterday", "2026-11-30 05:00:00", "2026-11-30T05:00:00.xZ"])
def test_parse_time_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_time(bad)


@pytest.mark.parametrize("query,expected", [
    ({}, LogOptions()),
    ({"follow": "true", "timestamps": "1", "previous": "false"}, LogOptions(follow=True, timestamps=True)),
    ({"tailLines": "0", "limitBytes": "10"}, LogOptions(tail_lines=0, limit_bytes=10)),
    ({"sinceSeconds": "60"}, LogOptions(since=1000.0 - 60)),
    ({"sinceTime": "1970-01-01T00:10:00Z"}, LogOptions(since=600.0)),
])
def test_log_options(query: dict[str, str], expected: LogOptions) -> None:
    assert log_options(query, now=1000.0) == expected


@pytest.mark.parametrize("query,message", [
    ({"tailLines": "x"}, "tailLines: invalid value 'x'"),
    ({"limitBytes": "-1"}, "limitBytes: must be greater than or equal to 0"),
    ({"sinceSeconds": "1", "sinceTime": "1970-01-01T00:00:00Z"}, "at most one of sinceTime or sinceSeconds"),
])
def test_log_options_errors(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        log_options(query, now=0)


RECS = [LogRecord(T0, "stdout", b"a"), LogRecord(T1, "stdout", b"b"), LogRecord(T2, "stderr", b"c")]


@pytest.mark.parametrize("opts,expected", [
    (LogOptions(), [b"a", b"b", b"c"]),
    (LogOptions(tail_lines=2), [b"b", b"c"]),
    (LogOptions(tail_lines=0), []),
    (LogOptions(tail_lines=10), [b"a", b"b", b"c"]),
    (LogOptions(since=parse_time(T1)), [b"b", b"c"]),
    (LogOptions(since=parse_time(T0), tail_lines=1), [b"c"]),
    (LogOptions(since=parse_time(T2) + 1), []),
])
def test_select_records(opts: LogOptions, expected: list[bytes]) -> None:
    assert [r.content for r in select_records(RECS, opts)] == expected


@pytest.mark.parametrize("payload, expected", [
    (b'{"Width":101,"Height":33}', (33, 101)),
    (b'{"Height":40}', (40, 0)),
    (b'{}', (0, 0)),
    (b'{"Width":70000,"Height":1}', None),
    (b'{"Width":-1,"Height":1}', None),
    (b'{"Width":"x"}', None),
    (b'[80, 24]', None),
    (b'not json', None),
])
def test_terminal_size_of_a_resize_frame(payload: bytes, expected: tuple[int, int] | None) -> None:
    assert terminal_size(payload) == expected


def test_exit_status_as_kubectl_reads_it() -> None:
    assert exit_status(["true"], 0) == {"metadata": {}, "status": "Success"}
    st = exit_status(["sh", "-c", "exit 3"], 3)
    assert st["status"] == "Failure" and st["reason"] == "NonZeroExitCode"
    assert st["message"] == ("command terminated with non-zero exit code: error executing command "
                             "[sh -c exit 3], exit code 3")
    assert st["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}


# ---- SPDY ----

def test_dictionary_is_spdy3s() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def go_header_block(z: zlib._Compress, headers: dict[str, str]) -> bytes:
    """A header block the way Go's spdy framer writes one: best compression, one stream
    flushed with Z_SYNC_FLUSH after each block."""
    raw = struct.pack("!I", len(headers))
    for k, v in headers.items():
        raw += struct.pack("!I", len(k)) + k.encode() + struct.pack("!I", len(v)) + v.encode()
    return z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH)


def test_header_blocks_from_a_go_style_compressor_share_one_context() -> None:
    z = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=spdy.DICTIONARY)
    wire = b""
    for sid, kind in ((1, "error"), (3, "data")):
        block = go_header_block(z, {"streamtype": kind, "port": "8080", "requestid": "0"})
        payload = struct.pack("!IIH", sid, 0, 0) + block
        wire += struct.pack("!HHI", 0x8003, spdy.SYN_STREAM, len(payload)) + payload
    frames = spdy.FrameParser(spdy.HeaderCodec()).feed(wire)
    assert [(f.stream_id, f.headers["streamtype"]) for f in frames] == [(1, ["error"]), (3, ["data"])]
    assert frames[1].headers == {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"]}


def test_replies_decode_with_a_fresh_peer_context() -> None:
    tx = spdy.HeaderCodec()
    d = zlib.decompressobj(zdict=spdy.DICTIONARY)
    for sid in (1, 3, 5):
        frame = spdy.syn_reply(tx, sid)
        ctl, ftype, flags_len = struct.unpack("!HHI", frame[:8])
        assert (ctl, ftype, flags_len & 0xFFFFFF) == (0x8003, spdy.SYN_REPLY, len(frame) - 8)
        assert struct.unpack("!I", frame[8:12])[0] == sid
        assert d.decompress(frame[12:]) == b"\x00\x00\x00\x00"


def test_frames_survive_any_split() -> None:
    tx, rx = spdy.HeaderCodec(), spdy.HeaderCodec()
    wire = (spdy.syn_stream(tx, 1, {"streamtype": ["data"], "port": ["80"]}) + spdy.data_frame(1, b"abc", fin=True)
            + spdy.syn_stream(tx, 3, {"streamtype": ["error"]}) + spdy.ping(7) + spdy.rst_stream(3, 5)
            + spdy.goaway(3))
    parser, frames = spdy.FrameParser(rx), []
    for i in range(0, len(wire), 3):
        frames += parser.feed(wire[i:i + 3])
    assert [(f.type, f.stream_id) for f in frames] == [(1, 1), (0, 1), (1, 3), (6, 0), (3, 3), (7, 3)]
    assert frames[0].headers == {"streamtype": ["data"], "port": ["80"]}
    assert frames[1].data == b"abc" and frames[1].fin and not frames[0].fin
    assert frames[3].value == 7 and frames[4].value == 5


@pytest.mark.parametrize("wire", [
    struct.pack("!HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1",          # SPDY/2
    struct.pack("!HHI", 0x8003, spdy.PING, 2) + b"\0\0",              # short
    struct.pack("!HHI", 0x8003, spdy.SYN_REPLY, 8) + b"\0\0\0\1junk",  # not zlib
])
def test_protocol_errors(wire: bytes) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameParser(spdy.HeaderCodec()).feed(wire)


def slow(data: bytes, tail: int | None, timestamps: bool) -> bytes:
    recs = select_records(CRIParser().feed(data), LogOptions(tail_lines=tail))
    return b"".join(render(r, timestamps) for r in recs)


FULL = (f"{T0} stdout F a\n{T1} stderr F b b\n{T2} stdout F \n{T2} stdout F last\n"
        "2026-11-30T05:00:03.123456789Z stdout F nanos\n").encode()


@pytest.mark.parametrize("data", [FULL, FULL + b"2026-11-30T05:00:03.0Z std", b"", b"incomplete"])
@pytest.mark.parametrize("tail", [None, 0, 1, 3, 5, 10])
@pytest.mark.parametrize("timestamps", [False, True])
def test_fast_path_agrees_with_the_parser(data: bytes, tail: int | None, timestamps: bool) -> None:
    fast = render_fast(data, tail, timestamps)
    assert fast is not None
    assert fast[0] == slow(data, tail, timestamps)
    assert fast[1] == data[data.rfind(b"\n") + 1:]


@pytest.mark.parametrize("data", [f"{T0} stdout P a\n{T0} stdout F b\n".encode(), FULL + b"not cri\n"])
def test_fast_path_declines_partial_and_malformed_lines(data: bytes) -> None:
    assert render_fast(data, None, False) is None
