#!/usr/bin/env python3
"""Bounded resources: hostile files that declare or expand to far more than they hold are
refused with a one-line error while the process's peak resident memory (GNU time's "Maximum
resident set size") stays under a small bound.

    python3 tools/test_bombs.py BIN [BOUND_MIB]      (default bound: 128 MiB)

Needs only the Python standard library and /usr/bin/time. Prints one line per case and a
summary for docs/SECURITY.md; exits 1 when a case is accepted, crashes or exceeds the bound.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_conformance as mc  # noqa: E402  (the hand-written protobuf encoder)


def deflate_zeros(n, raw=False):
    """A zlib (or raw deflate) stream of n zero bytes, built in 16 MiB pieces."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15 if raw else 15)
    chunk = b"\0" * (16 << 20)
    out = []
    left = n
    while left:
        k = min(left, len(chunk))
        out.append(c.compress(chunk[:k]))
        left -= k
    out.append(c.flush())
    return b"".join(out)


def lstm_with_blob(stream, raw_size, shape, encoding=2):
    """The conformance base model with W_x replaced by `stream` declaring `raw_size` bytes."""
    section, offs = mc.blobs_for([stream, mc.W_H])
    t0 = (mc.f_bytes(1, b"layers.0.forward.W_x") + mc.f_varint(2, 1) + mc.f_bytes(3, b"".join(mc.varint(d) for d in shape))
          + mc.f_varint(4, encoding) + mc.f_varint(5, offs[0]) + mc.f_varint(6, len(stream)) + mc.f_varint(7, raw_size)
          + mc.f_varint(8, 0))
    hdr = mc.header(tensors=mc.f_bytes(3, t0) + mc.f_bytes(3, mc.tensor("layers.0.forward.W_h", [1, 1], offs[1], mc.W_H)))
    return mc.container(hdr, section)


def zip_with_member(name, declared, stream, others=()):
    """A zip whose member `name` is the raw deflate `stream` declaring `declared` bytes."""
    out, central = bytearray(), bytearray()
    members = list(others) + [(name, declared, stream, 8)]
    for n, size, data, method in members:
        nb = n.encode()
        off = len(out)
        crc = zlib.crc32(data) if method == 0 else 0
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(nb), 0) + nb + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(nb), 0, 0, 0, 0, 0, off) + nb
    cd = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd, 0)
    return bytes(out)


def npy(header_dict_text, payload=b""):
    h = header_dict_text
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + payload


def main():
    binary = os.path.abspath(sys.argv[1])
    bound = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    here = os.path.dirname(os.path.abspath(__file__))
    model = os.path.join(here, "..", "fixtures", "format", "v1.0", "lstm.lstm")
    env = dict(os.environ, SWIFT_BACKTRACE="enable=no")
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        def put(name, data):
            p = os.path.join(d, name)
            with open(p, "wb") as f:
                f.write(data)
            return p

        cases = []
        # A 1 KiB .lstm whose tensor declares 100 GiB, raw and compressed.
        g100 = 100 << 30
        cases.append(("lstm: 1 KiB file, a raw tensor declaring 100 GiB",
                      ["inspect", "--stats", put("decl100g_raw.lstm", lstm_with_blob(mc.W_X, g100, [1 << 20, 25600], encoding=1))]))
        cases.append(("lstm: 1 KiB file, a zlib tensor declaring 100 GiB",
                      ["convert", put("decl100g_zlib.lstm", lstm_with_blob(zlib.compress(mc.W_X), g100, [1 << 20, 25600])), os.path.join(d, "o1.json")]))
        # A deflate bomb in a blob: 1 GiB of zeros (about 1 MiB) declared as 8 bytes.
        bomb = deflate_zeros(1 << 30)
        cases.append((f"lstm: deflate bomb in a blob ({len(bomb) >> 10} KiB inflating to 1 GiB, declared 8 bytes)",
                      ["convert", put("bomb.lstm", lstm_with_blob(bomb, 8, [1, 2])), os.path.join(d, "o2.json")]))
        # A header that repeats fields without end: 60 MiB of empty metadata properties, and of
        # one unknown field; and a JSON form nested a million deep.
        big = mc.f_bytes(1, mc.f_bytes(1, b"tiny") + mc.f_bytes(8, b"") * (30 << 20))
        cases.append(("lstm: header of 60 MiB of repeated empty properties", ["inspect", put("repeat.lstm", mc.container(mc.header(meta=big)))]))
        unknown = mc.header(layers=mc.f_bytes(2, mc.layer(extra=mc.f_varint(100, 0) * (20 << 20))))
        cases.append(("lstm: header of 60 MiB of one repeated unknown field", ["inspect", put("unknown.lstm", mc.container(unknown))]))
        cases.append(("json: a model nested 1 000 000 arrays deep", ["inspect", put("deep.json", b"[" * 1000000 + b"]" * 1000000)]))
        cases.append(("golden.json nested 1 000 000 objects deep",
                      ["verify", model, "--golden", put("golden.json", b'{"a":' * 1000000 + b"1" + b"}" * 1000000)]))
        # A .keras zip: model.weights.h5 a deflate bomb declaring 1 KiB, and one declaring 1.9 GiB
        # in a few bytes.
        keras_config = json.dumps({"class_name": "Sequential", "config": {"layers": []}}).encode()
        kb = deflate_zeros(1 << 30, raw=True)
        others = [("metadata.json", 2, b"{}", 0), ("config.json", len(keras_config), keras_config, 0)]
        cases.append((f"keras: deflate bomb member ({len(kb) >> 10} KiB inflating to 1 GiB, declared 1 KiB)",
                      ["convert", put("bomb.keras", zip_with_member("model.weights.h5", 1024, kb, others)), os.path.join(d, "o3.lstm")]))
        cases.append(("keras: a 200-byte member declaring 1.9 GiB",
                      ["convert", put("decl.keras", zip_with_member("model.weights.h5", 1900 << 20, deflate_zeros(1000, raw=True), others)),
                       os.path.join(d, "o4.lstm")]))
        # safetensors: a header length of 2^63, and one of 2^32.
        cases.append(("safetensors: header length 2^63", ["convert", put("h63.safetensors", struct.pack("<Q", 1 << 63) + b"{}"),
                                                          os.path.join(d, "o5.lstm"), "--cell", "lstm"]))
        cases.append(("safetensors: header length 2^32 in a 16-byte file", ["convert", put("h32.safetensors", struct.pack("<Q", 1 << 32) + b"{}" + b" " * 6),
                                                                           os.path.join(d, "o6.lstm"), "--cell", "lstm"]))
        # .npy with an absurd shape, and one whose product overflows.
        cases.append(("npy: shape (2^40, 2^40, 16) as run's input",
                      ["run", model, "--input", put("x.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 16), }")),
                       "--output", os.path.join(d, "y.npy")]))
        cases.append(("npy: shape (3037000500, 3037000500, 3) overflowing 2^63",
                      ["run", model, "--input", put("x2.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3037000500, 3037000500, 3), }")),
                       "--output", os.path.join(d, "y.npy")]))
        # A pickle that builds a huge list: EMPTY_LIST, then (MARK, 1000 × BININT1 0, APPENDS)
        # 10 000 times (10 million elements in 20 MB), and one that fetches one memo entry 10
        # million times into a list.
        block = b"(" + b"K\x00" * 1000 + b"e"
        pkl = b"\x80\x02]" + block * 10000 + b"."
        cases.append(("pt: a pickle building a 10-million-element list",
                      ["convert", put("list.pt", make_stored_zip([("archive/data.pkl", pkl), ("archive/version", b"3\n")])), os.path.join(d, "o7.lstm")]))
        memo_block = b"(" + b"h\x00" * 1000 + b"e"
        pkl2 = b"\x80\x02]q\x00" + memo_block * 10000 + b"."
        cases.append(("pt: a pickle appending one memo entry 10 million times",
                      ["convert", put("memo.pt", make_stored_zip([("archive/data.pkl", pkl2), ("archive/version", b"3\n")])), os.path.join(d, "o8.lstm")]))

        worst = 0
        for what, args in cases:
            r = subprocess.run(["/usr/bin/time", "-v", binary] + args, env=env, capture_output=True, text=True, timeout=300)
            rss = 0
            for line in r.stderr.splitlines():
                if "Maximum resident set size" in line:
                    rss = int(line.split(":")[1]) // 1024
            errors = [l for l in r.stderr.splitlines() if l.startswith("error: ")]
            ok = r.returncode == 1 and len(errors) == 1 and rss < bound
            worst = max(worst, rss)
            failures += not ok
            msg = errors[0][7:][:110] if errors else r.stderr.strip().splitlines()[:1]
            print(f"{'ok  ' if ok else 'FAIL'} {rss:4d} MiB  exit {r.returncode}  {what}: {msg}")
    print(f"bombs: {len(cases)} hostile files refused in one line each, peak RSS at most {worst} MiB (bound {bound} MiB)"
          if not failures else f"bombs: {failures} of {len(cases)} cases failed")
    sys.exit(1 if failures else 0)


def make_stored_zip(members):
    out, central = bytearray(), bytearray()
    for n, data in members:
        nb = n.encode()
        off = len(out)
        crc = zlib.crc32(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(nb), 0) + nb + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                               len(nb), 0, 0, 0, 0, 0, off) + nb
    cd = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd, 0)
    return bytes(out)


if __name__ == "__main__":
    main()
