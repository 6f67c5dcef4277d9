#!/usr/bin/env python3
"""Writes the handcrafted seeds of corpus/dhcp_parse (the captured fixtures are copied in as
they are). Each seed sits on an edge the parser must get right; see README.md."""
import os, shutil

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus", "dhcp_parse")
fixtures = os.path.join(here, "..", "dhcp-wire", "tests", "fixtures")
os.makedirs(out, exist_ok=True)

COOKIE = bytes([99, 130, 83, 99])

def msg(options=b"", file=b"", sname=b"", op=1, hlen=6, pad_to=0):
    h = bytearray(236)
    h[0], h[1], h[2] = op, 1, hlen
    h[4:8] = b"\x12\x34\x56\x78"
    h[28:34] = b"\x02\x00\x00\x00\x00\x01"
    h[44:44 + len(sname)] = sname
    h[108:108 + len(file)] = file
    m = bytes(h) + COOKIE + options
    return m + bytes(max(0, pad_to - len(m)))

def opt(code, value):
    return bytes([code, len(value)]) + value

def long_opt(code, value):
    return b"".join(opt(code, value[i:i + 255]) for i in range(0, len(value), 255))

seeds = {
    "edge-header-only": msg(),
    "edge-end-only": msg(b"\xff", pad_to=300),
    "edge-no-end": msg(opt(53, b"\x01") + opt(61, b"\x01\x02\x00\x00\x00\x00\x01")),
    "edge-pads": msg(b"\x00" * 20 + opt(53, b"\x03") + b"\x00" * 5 + b"\xff"),
    "edge-long-option": msg(opt(53, b"\x05") + long_opt(6, bytes(range(200)) * 3) + b"\xff"),
    "edge-split-apart": msg(opt(43, b"ab") + opt(53, b"\x01") + opt(43, b"") + opt(43, b"cd")
                            + b"\xff"),
    "edge-overload-both": msg(opt(53, b"\x02") + opt(52, b"\x03") + b"\xff",
                              file=opt(224, b"file") + opt(3, bytes(4)) + b"\xff",
                              sname=opt(224, b"sname") + opt(12, b"h") + b"\xff", op=2),
    "edge-overload-file-no-end": msg(opt(52, b"\x01") + b"\xff",
                                     file=opt(225, bytes(126))),
    "edge-overload-in-file": msg(opt(52, b"\x01") + b"\xff", file=opt(52, b"\x02") + b"\xff"),
    "edge-overload-twice": msg(opt(52, b"\x01") + opt(52, b"\x01") + b"\xff"),
    "edge-overload-bad-value": msg(opt(52, b"\x07") + b"\xff"),
    "edge-overrun": msg(opt(53, b"\x01") + b"\x3d\x10\x01"),
    "edge-overrun-file": msg(opt(52, b"\x01") + b"\xff", file=bytes(126) + b"\xe0\x05"),
    "edge-relay-82": msg(opt(53, b"\x01") + opt(82, opt(1, b"eth0/1") + opt(2, b"\xaa\xbb")
                                                  + opt(9, b"")) + b"\xff"),
    "edge-relay-82-bad": msg(opt(53, b"\x01") + opt(82, b"\x01\x09ab") + b"\xff"),
    "edge-relay-82-split": msg(opt(82, opt(1, b"x")) + opt(82, opt(2, b"y")) + b"\xff"),
    "edge-typed-wrong-lengths": msg(opt(53, b"\x01\x01") + opt(50, b"\x0a\x00\x00")
                                    + opt(51, b"") + opt(57, b"\x02\x3f") + b"\xff"),
    "edge-max-size-valid": msg(opt(57, b"\x05\xdc") + opt(55, bytes(range(1, 80))) + b"\xff"),
    "edge-many-fragments": msg(b"".join(opt(200 + i % 40, b"") for i in range(128)) + b"\xff"),
    "edge-too-many-fragments": msg(b"".join(opt(224, b"") for i in range(129)) + b"\xff"),
    "edge-hlen-16": msg(opt(53, b"\x01") + b"\xff", hlen=16),
    "edge-hlen-17": msg(opt(53, b"\x01") + b"\xff", hlen=17),
    "edge-bad-op": msg(b"\xff", op=3),
    "edge-bad-cookie": msg(b"\xff")[:236] + b"\x63\x82\x53\x62\xff",
    "edge-truncated": msg(b"\xff")[:239],
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
for name in sorted(os.listdir(fixtures)):
    if name.endswith(".bin"):
        shutil.copy(os.path.join(fixtures, name), os.path.join(out, "fixture-" + name[:-4]))
print(len(os.listdir(out)), "seeds in", out)
