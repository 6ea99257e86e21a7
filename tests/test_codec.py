"""The frame codec (src/shared/codec.c) on its own: streams decoded over a real socket pair by
build/codec-test (tests/unit/codec_test.c), written whole, a byte at a time, and split at every
byte boundary; truncated and oversized frames."""
import os
import struct
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "build", "codec-test")

HELLO, REQUEST, BODY, MORE, HEAD, DATA, FILE, END, REFUSE, GOODBYE = range(1, 11)
FRAME_MAX = 16 * 1024 * 1024


@pytest.fixture(scope="module", autouse=True)
def driver():
    subprocess.run(["make", "-s", "codec-test"], cwd=ROOT, check=True)


def frame(type_, payload=b"", flags=0, aux=0, length=None):
    return struct.pack("=BBHI", type_, flags, aux,
                       len(payload) if length is None else length) + payload


def shown(type_, payload=b"", flags=0, aux=0, length=None):
    """A frame as the driver prints it."""
    return "%d/%d/%d/%d:%s" % (type_, flags, aux,
                               len(payload) if length is None else length, payload.hex())


def decode(stream, split="whole", way="some", chunk=16384):
    """The driver's output lines for stream."""
    out = subprocess.run([DRIVER, str(chunk), way, split], input=stream, capture_output=True,
                         check=True, timeout=60).stdout.decode()
    return out.splitlines()


# A response as a daemon sends it, and a request as Apache sends it.
RESPONSE = [(HELLO, struct.pack("=Ii", 0x31687970, 4242)),
            (HEAD, struct.pack("=II", 1, 6) + b"200 OK" + struct.pack("=II", 12, 10)
             + b"Content-Type" + b"text/plain"),
            (DATA, b"hello "), (DATA, b""), (DATA, b"world\n"),
            (END, b"")]
REQUEST_STREAM = [(HELLO, struct.pack("=I", 0x31687970) + bytes(range(16))),
                  (REQUEST, bytes(40) + b"\x05" + struct.pack("=I", 3) + b"GET"),
                  (BODY, b"a=1&b=2", PYHOST_FL_PAUSE := 2), (BODY, b"", 1)]


def stream_of(frames):
    return b"".join(frame(f[0], f[1], *(f[2:])) for f in frames)


def expected(frames, result="END"):
    return " ".join([shown(f[0], f[1], *(f[2:])) for f in frames] + [result])


@pytest.mark.parametrize("way", ["some", "into"])
@pytest.mark.parametrize("frames", [RESPONSE, REQUEST_STREAM], ids=["response", "request"])
def test_frames_split_at_every_byte_boundary(frames, way):
    s = stream_of(frames)
    lines = decode(s, "every", way)
    assert len(lines) == len(s) - 1
    assert set(lines) == {expected(frames)}


@pytest.mark.parametrize("way", ["some", "into"])
def test_frames_written_a_byte_at_a_time(way):
    frames = RESPONSE + [(REFUSE, b"stopping", 1, 503), (GOODBYE, b"")]
    assert decode(stream_of(frames), "bytes", way) == [expected(frames)]


@pytest.mark.parametrize("split", ["whole", "bytes"])
def test_large_streamed_payload_read_directly_and_through_the_buffer(split):
    """5000 bytes of body: taken into a 5000-byte buffer straight from the socket when
    nothing is buffered, through the reader's buffer otherwise; the same bytes either way."""
    body = bytes(i * 7 % 251 for i in range(5000))
    frames = [(DATA, body), (DATA, body[:100]), (END, b"")]
    for way in ("some", "into"):
        assert decode(stream_of(frames), split, way) == [expected(frames)]


@pytest.mark.parametrize("split", ["whole", "bytes"])
def test_payloads_read_straight_to_their_end_take_the_next_header_along(split):
    """Payloads that fit the 5000-byte buffer are read straight into it to their end, the next
    frame's header in the same read: back-to-back large frames, an empty one, a held one after
    them and a truncation inside the last all come out as sent, however the stream is cut."""
    frames = [(DATA, bytes(i % 253 for i in range(4500))), (DATA, b"\x01" * 4096),
              (BODY, bytes(range(256)) * 19, 0), (DATA, b""), (DATA, b"\x02" * 4999),
              (HEAD, struct.pack("=II", 0, 2) + b"OK"), (END, b"")]
    s = stream_of(frames)
    lines = decode(s, split, "into")
    assert set(lines) == {expected(frames)}
    cut = s[:-8 - 10 - 8 - 10]  # inside the last DATA payload
    assert decode(cut, "whole", "into") == [expected(frames[:4], "").rstrip() + " "
                                            + shown(DATA, b"\x02" * 4989, length=4999)
                                            + " TRUNCATED"]


def test_every_truncation_is_named_for_where_it_fell():
    """Each prefix of a stream: END when it stops between two frames, TRUNCATED when inside
    one (its header, a held payload, or a streamed payload), with the whole frames before."""
    s = stream_of(RESPONSE)
    bounds, at = {0: 0}, 0
    for i, f in enumerate(RESPONSE):
        at += 8 + len(f[1])
        bounds[at] = i + 1
    for k in range(len(s)):
        line = decode(s[:k])[0]
        if k in bounds:
            assert line == expected(RESPONSE[:bounds[k]]), k
        else:
            assert line.endswith(" TRUNCATED") or line == "TRUNCATED", (k, line)
            whole = max(n for b, n in bounds.items() if b <= k)
            assert line.startswith(expected(RESPONSE[:whole], "").rstrip()), (k, line)


def test_oversized_held_frame_is_refused_before_its_payload():
    """A HEAD (held whole) longer than the limit is refused on its header alone: no 16 MB
    buffer, no waiting for bytes that will not come."""
    s = frame(HEAD, b"", length=FRAME_MAX + 1) + b"x" * 10
    assert decode(s) == ["OVERSIZED"]
    s = frame(REQUEST, b"", length=0xFFFFFFFF)
    assert decode(s) == ["OVERSIZED"]


def test_streamed_frame_has_no_limit():
    """DATA and BODY payloads are passed on in pieces: a length over the held limit is
    accepted, and the stream ending early is TRUNCATED, not OVERSIZED."""
    for t in (DATA, BODY):
        s = frame(t, b"", length=FRAME_MAX + 1) + b"abc"
        assert decode(s) == ["%d/0/0/%d:616263 TRUNCATED" % (t, FRAME_MAX + 1)]


def test_empty_stream_is_a_clean_end():
    assert decode(b"") == ["END"]
