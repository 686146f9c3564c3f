#!/usr/bin/python3
"""Generate libtorrent_fixtures.json: BitTorrent v2 (BEP 52) pieces roots and
piece layers computed by libtorrent, an implementation independent of ours.

Run once with Debian's python3 (apt-get install python3-libtorrent), NOT a
python3 from a virtualenv:  /usr/bin/python3 merkle/testdata/gen_fixtures.py
The output is committed, so tests and CI never need libtorrent.

File contents are deterministic and reproduced by the Go test (fixtureData):
the i-th 32-byte chunk is SHA-256("dhtnode-fixture" || i as 8 bytes little
endian), truncated to the file size.
"""
import hashlib
import json
import os
import struct
import tempfile

import libtorrent as lt

KIB = 1024
MIB = 1024 * KIB
SIZES = [
    1, 100, 16 * KIB - 1, 16 * KIB, 16 * KIB + 1, 32 * KIB - 1, 32 * KIB, 32 * KIB + 1,
    48 * KIB, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 5 * 16 * KIB + 7,
    256 * KIB - 1, 256 * KIB, 256 * KIB + 1, 512 * KIB, 768 * KIB + 1,
    1 * MIB - 1, 1 * MIB, 1 * MIB + 1, 2 * MIB + 12345, 4 * MIB + 1,
]
PIECE_SIZES = [16 * KIB, 32 * KIB, 256 * KIB, 1 * MIB]


def fixture_data(size):
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"dhtnode-fixture" + struct.pack("<Q", i)).digest()
        i += 1
    return bytes(out[:size])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    cases = []
    with tempfile.TemporaryDirectory() as d:
        for size in SIZES:
            with open(os.path.join(d, "f"), "wb") as f:
                f.write(fixture_data(size))
            for piece_size in PIECE_SIZES:
                fs = lt.file_storage()
                fs.add_file("f", size)
                ct = lt.create_torrent(fs, piece_size, lt.create_torrent.v2_only)
                lt.set_piece_hashes(ct, d)
                e = ct.generate()
                root = e[b"info"][b"file tree"][b"f"][b""][b"pieces root"]
                layer = e.get(b"piece layers", {}).get(root, b"")
                cases.append({
                    "size": size,
                    "piece_size": piece_size,
                    "root": root.hex(),
                    "layer_count": len(layer) // 32,
                    "layer_sha256": hashlib.sha256(layer).hexdigest(),
                })
    with open(os.path.join(here, "libtorrent_fixtures.json"), "w") as f:
        json.dump({"generator": "libtorrent " + lt.__version__, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
