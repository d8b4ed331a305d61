#!/usr/bin/env python3
"""Writes fixtures/conformance/: crafted .lstm files, each with the verdict a conforming reader
must reach and, for a refusal, the error kind and the rule of docs/FORMAT.md §7 that decides it
(manifest.json). Written by hand from docs/FORMAT.md and schema/lstmtool.proto: a protobuf
encoder of a few lines, no protobuf library, so that the files say exactly what the rules say.

    python3 tools/make_conformance.py            (rewrites the folder; deterministic)

ConformanceTests (swift test) reads every file with lstmtool and checks its verdict and kind;
any other reader can test itself against the same manifest.
"""
import json
import os
import struct
import sys
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "conformance")


# --- protobuf wire encoding, by hand -------------------------------------------------------
def varint(v, length=None):
    """v as a varint; `length` pads it with continuation bytes (an over-long encoding)."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            break
    if length is not None and len(out) < length:
        out[-1] |= 0x80
        out += b"\x80" * (length - len(out) - 1) + b"\x00"
    return bytes(out)


def tag(number, wire):
    return varint(number << 3 | wire)


def f_varint(number, v):
    return tag(number, 0) + varint(v)


def f_bytes(number, payload):
    return tag(number, 2) + varint(len(payload)) + payload


def f_double(number, x):
    return tag(number, 1) + struct.pack("<d", x)


def f_fixed32(number, v):
    return tag(number, 5) + struct.pack("<I", v)


def f_fixed64(number, v):
    return tag(number, 1) + struct.pack("<Q", v)


# --- the base model: the worked example of FORMAT.md §11 -----------------------------------
W_X = struct.pack("<2f", 0.5, -1.0)
W_H = struct.pack("<f", 0.25)


def activation(kind=2):
    return f_varint(1, kind) + f_double(2, 0.0) + f_double(3, 0.0)


def layer(extra=b"", cell=f_varint(1, 1), has_bias=f_varint(5, 0), activations=None, input_size=f_varint(2, 2)):
    acts = activations if activations is not None else f_bytes(7, activation())
    return (cell + input_size + f_varint(3, 1) + f_varint(4, 1) + has_bias + f_varint(6, 1)
            + acts + tag(17, 0) + varint(0) + extra)


def tensor(name, shape, offset, raw, encoding=1, stored=None, crc=None, shape_field=None, extra=b"", crc_field=None):
    stored = stored if stored is not None else raw
    sh = shape_field if shape_field is not None else f_bytes(3, b"".join(varint(d) for d in shape))
    crc_value = zlib.crc32(raw) if crc is None else crc
    return (f_bytes(1, name.encode()) + f_varint(2, 1) + sh + f_varint(4, encoding) + f_varint(5, offset)
            + f_varint(6, len(stored)) + f_varint(7, len(raw)) + (crc_field if crc_field is not None else f_varint(8, crc_value))
            + extra)


def metadata(extra=b""):
    return f_bytes(1, f_bytes(1, b"tiny") + extra)


def header(meta=None, layers=None, tensors=None, tail=b""):
    m = metadata() if meta is None else meta
    ls = f_bytes(2, layer()) if layers is None else layers
    ts = tensors if tensors is not None else (
        f_bytes(3, tensor("layers.0.forward.W_x", [1, 2], 0, W_X)) + f_bytes(3, tensor("layers.0.forward.W_h", [1, 1], 64, W_H)))
    return m + ls + ts + tail


def blobs_for(stored):
    """Blob section holding `stored` byte strings, each at the next multiple of 64."""
    out = bytearray()
    offsets = []
    for s in stored:
        out += b"\0" * (-len(out) % 64)
        offsets.append(len(out))
        out += s
    return bytes(out), offsets


def container(hdr, blob_section=None, header_crc=None, header_length=None, major=1, magic=b"\x89LSTM\r\n\x1a"):
    if blob_section is None:
        blob_section, _ = blobs_for([W_X, W_H])
    blob_offset = (64 + len(hdr) + 63) // 64 * 64
    pre = (magic + struct.pack("<HHI", major, 0, 0) + struct.pack("<QQ", 64, len(hdr) if header_length is None else header_length)
           + struct.pack("<II", zlib.crc32(hdr) if header_crc is None else header_crc, 64)
           + struct.pack("<QQ", blob_offset, len(blob_section)) + b"\0" * 8)
    return pre + hdr + b"\0" * (blob_offset - 64 - len(hdr)) + blob_section


def zlib_case(stream, raw=W_X, encoding=2):
    """The base model with W_x stored as the given zlib stream (declared raw size: len(raw))."""
    section, offs = blobs_for([stream, W_H])
    hdr = header(tensors=f_bytes(3, tensor("layers.0.forward.W_x", [1, 2], offs[0], raw, encoding=encoding, stored=stream))
                 + f_bytes(3, tensor("layers.0.forward.W_h", [1, 1], offs[1], W_H)))
    return container(hdr, section)


CASES = []


SAME_AS_BASE = {"base", "shape_unpacked", "varint_10_bytes_ok"}


def case(name, data, verdict, kind=None, rule=None, note=""):
    CASES.append((name, data, verdict, kind, rule, note))


def main():
    base = container(header())
    case("base", base, "accept", note="the worked example of FORMAT.md §11")
    # W9 and the other counts.
    case("properties_4096_empty", container(header(meta=f_bytes(1, f_bytes(1, b"tiny") + b"".join(
        f_bytes(8, f_bytes(1, b"k%d" % i)) for i in range(4096))))), "accept",
        note="4096 properties (the cap), each with a distinct key and no value")
    case("properties_4097", container(header(meta=f_bytes(1, f_bytes(1, b"tiny") + b"".join(
        f_bytes(8, f_bytes(1, b"k%d" % i)) for i in range(4097))))), "refuse", "malformedHeader", "W9",
        "one property more than the cap")
    case("properties_16368_empty", container(header(meta=f_bytes(1, f_bytes(1, b"tiny") + f_bytes(8, b"") * 16368))),
         "refuse", "malformedHeader", "W9", "empty entries count like any other (formerly decided by an allocation budget)")
    case("layers_4097_empty", container(header(layers=f_bytes(2, b"") * 4097)), "refuse", "malformedHeader", "W9")
    case("tensors_100001_empty", container(header(tensors=f_bytes(3, b"") * 100001)), "refuse", "malformedHeader", "W9")
    case("activations_17", container(header(layers=f_bytes(2, layer(activations=f_bytes(7, activation()) * 17)))),
         "refuse", "malformedHeader", "W9", "the count is refused before L4 looks at the layer")
    case("shape_rank_9", container(header(tensors=f_bytes(3, tensor("layers.0.forward.W_x", [1] * 7 + [1, 2], 0, W_X))
                                          + f_bytes(3, tensor("layers.0.forward.W_h", [1, 1], 64, W_H)))),
         "refuse", "malformedHeader", "W9")
    case("unknown_fields_1024", container(header(layers=f_bytes(2, layer(extra=b"".join(f_varint(100 + i, 0) for i in range(1024)))))),
         "accept", note="1024 unknown fields in one message (the cap) are kept")
    case("unknown_fields_1025", container(header(layers=f_bytes(2, layer(extra=b"".join(f_varint(100 + i, 0) for i in range(1025)))))),
         "refuse", "malformedHeader", "W7")
    # W4: known fields with another wire type.
    for name, field in [("fixed32", f_fixed32(5, 1)), ("fixed64", f_fixed64(5, 1)), ("bytes", f_bytes(5, b"\x01"))]:
        case(f"has_bias_as_{name}", container(header(layers=f_bytes(2, layer(has_bias=field)))), "refuse", "malformedHeader", "W4",
             "a known field sent with another wire type is refused, never kept as unknown or read as true")
    case("cell_as_fixed32", container(header(layers=f_bytes(2, layer(cell=f_fixed32(1, 1))))), "refuse", "malformedHeader", "W4")
    case("layer_as_varint", container(header(layers=f_varint(2, 1))), "refuse", "malformedHeader", "W4")
    case("shape_unpacked", container(header(tensors=f_bytes(3, tensor("layers.0.forward.W_x", [1, 2], 0, W_X, shape_field=f_varint(3, 1) + f_varint(3, 2)))
                                            + f_bytes(3, tensor("layers.0.forward.W_h", [1, 1], 64, W_H)))),
         "accept", note="a repeated scalar may be packed or not (protobuf); the same model as base")
    # W2: groups and wire types 6, 7.
    case("unknown_group_header", container(header(tail=tag(50, 3) + f_varint(1, 5) + tag(50, 4))), "refuse", "malformedHeader", "W2")
    case("unknown_group_layer", container(header(layers=f_bytes(2, layer(extra=tag(50, 3) + tag(50, 4))))), "refuse", "malformedHeader", "W2")
    case("wire_type_6", container(header(tail=tag(50, 6))), "refuse", "malformedHeader", "W2")
    # W6: varints that overflow their field.
    case("crc32_above_2_32", container(header(tensors=f_bytes(3, tensor("layers.0.forward.W_x", [1, 2], 0, W_X, crc_field=f_varint(8, (1 << 32) + zlib.crc32(W_X))))
                                              + f_bytes(3, tensor("layers.0.forward.W_h", [1, 1], 64, W_H)))),
         "refuse", "malformedHeader", "W6", "uint32 crc32 with 2^32 added: never truncated to the right value")
    case("cell_above_int32", container(header(layers=f_bytes(2, layer(cell=f_varint(1, (1 << 32) + 1))))), "refuse", "malformedHeader", "W6",
         "2^32 + 1 would truncate to CELL_FAMILY_RNN")
    case("cell_negative", container(header(layers=f_bytes(2, layer(cell=f_varint(1, (1 << 64) - 1))))), "refuse", "malformedHeader", "W6")
    case("has_bias_2", container(header(layers=f_bytes(2, layer(has_bias=f_varint(5, 2))))), "refuse", "malformedHeader", "W6", "a bool is 0 or 1")
    # W3: varints.
    case("varint_11_bytes", container(header(layers=f_bytes(2, layer(input_size=tag(2, 0) + varint(2, length=11))))),
         "refuse", "malformedHeader", "W3")
    case("varint_10_bytes_overflow", container(header(layers=f_bytes(2, layer(input_size=tag(2, 0) + b"\x82" + b"\x80" * 8 + b"\x02")))),
         "refuse", "malformedHeader", "W3")
    case("varint_10_bytes_ok", container(header(layers=f_bytes(2, layer(input_size=tag(2, 0) + varint(2, length=10))))),
         "accept", note="an over-long but in-range varint (10 bytes) is a valid encoding of 2")
    # W1: field numbers.
    case("field_number_0", container(header(tail=b"\x00\x00")), "refuse", "malformedHeader", "W1")
    case("field_number_0_overlong", container(header(tail=b"\x80\x00\x00")), "refuse", "malformedHeader", "W1")
    case("field_number_2_29", container(header(tail=tag(1 << 29, 0) + b"\x00")), "refuse", "malformedHeader", "W1")
    case("field_number_2_29_minus_1", container(header(tail=tag((1 << 29) - 1, 0) + b"\x00")), "accept",
         note="the largest field number, as an unknown field (kept)")
    # W5: singular fields twice.
    case("input_size_twice", container(header(layers=f_bytes(2, layer(extra=f_varint(2, 2))))), "refuse", "malformedHeader", "W5",
         "protobuf would keep the last; the format refuses")
    case("metadata_twice", container(header(meta=metadata() + metadata())), "refuse", "malformedHeader", "W5")
    # W8 and H5: strings and properties.
    case("name_with_nul", container(header(meta=f_bytes(1, f_bytes(1, b"ti\x00ny")))), "refuse", "malformedHeader", "W8",
         "a C decoder would cut the string at the NUL")
    case("name_not_utf8", container(header(meta=f_bytes(1, f_bytes(1, b"ti\xffny")))), "refuse", "malformedHeader", "W8")
    case("duplicate_property_key", container(header(meta=f_bytes(1, f_bytes(1, b"tiny") + f_bytes(8, f_bytes(1, b"k") + f_bytes(2, b"1"))
                                                                    + f_bytes(8, f_bytes(1, b"k") + f_bytes(2, b"2"))))),
         "refuse", "malformedHeader", "H5")
    case("unknown_varint_in_layer", container(header(layers=f_bytes(2, layer(extra=f_varint(100, 7))))), "accept",
         note="an unknown field is kept (and written back)")
    # B1, B2: compressed blobs.
    good = zlib.compress(W_X, 9)
    case("zlib_ok", zlib_case(good), "accept", note="W_x as a zlib stream")
    case("zlib_without_adler32", zlib_case(good[:-4]), "refuse", "sizeMismatch", "B2",
         "the deflate data is complete but the stream ends before its Adler-32: a truncated stream")
    case("zlib_truncated_in_deflate", zlib_case(good[:4]), "refuse", "sizeMismatch", "B2")
    case("zlib_bad_adler32", zlib_case(good[:-1] + bytes([good[-1] ^ 1])), "refuse", "checksum", "B1")
    case("zlib_bad_header", zlib_case(b"\x78\x00" + good[2:]), "refuse", "checksum", "B1")
    case("zlib_preset_dictionary", zlib_case(b"\x78\xbb" + good[2:]), "refuse", "checksum", "B1")
    case("zlib_trailing_bytes", zlib_case(good + b"\0"), "refuse", "sizeMismatch", "B2")
    case("zlib_longer_than_declared", zlib_case(zlib.compress(W_X + b"\0\0\0\0")), "refuse", "sizeMismatch", "B2")
    case("zlib_bad_data_and_long", zlib_case(b"\x78\x9c\xff\xff" + good[4:]), "refuse", "checksum", "B1",
         "invalid deflate data is met before the size: whichever inflate meets first decides")
    # Which error wins (§7.1).
    case("order_magic_before_crc", container(header(), header_crc=0, magic=b"\x89LSTX\r\n\x1a"), "refuse", "badMagic", "P1")
    case("order_header_length_before_truncation", container(header(), header_length=1 << 30), "refuse", "malformedHeader", "P6",
         "P6 (header_length ≤ 64 MiB) comes before P7 (the header lies inside the file)")
    case("order_crc_before_wire", container(header(tail=b"\x00\x00"), header_crc=1), "refuse", "checksum", "H1")
    case("order_wire_before_layer", container(header(layers=f_bytes(2, layer(cell=b"", has_bias=f_fixed32(5, 1))))), "refuse",
         "malformedHeader", "W4", "the wire walk (W) runs before the layer rules (L1: cell missing)")
    case("order_first_tensor_wins", container(header(tensors=f_bytes(3, tensor("layers.0.forward.W_x", [1, 2], 4096, W_X))
                                                     + f_bytes(3, tensor("layers.0.forward.W_x", [1, 1], 64, W_H)))),
         "refuse", "outOfBounds", "M5", "tensor 0 breaks M5, tensor 1 breaks M2: per tensor, in table order")
    case("order_table_before_layers", container(header(layers=f_bytes(2, layer(input_size=f_varint(2, 0))),
                                                       tensors=f_bytes(3, tensor("layers.0.forward.W_x", [1, 2], 0, W_X))
                                                       + f_bytes(3, tensor("layers.0.forward.W_h", [1, 1], 0, W_H)))),
         "refuse", "overlap", "M9", "M9 (overlap) before L7 (input_size 0)")
    case("order_header_before_blobs", container(header(layers=f_bytes(2, layer(input_size=f_varint(2, 3)))),
                                                blobs_for([b"\xff" * 8, W_H])[0]),
         "refuse", "shape", "S3", "header and table rules run at open, before any blob is read (B3 would fail too)")

    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".lstm"):
            os.remove(os.path.join(OUT, f))
    manifest = {}
    for name, data, verdict, kind, rule, note in CASES:
        with open(os.path.join(OUT, name + ".lstm"), "wb") as fh:
            fh.write(data)
        entry = {"verdict": verdict}
        if kind:
            entry["kind"] = kind
        if rule:
            entry["rule"] = rule
        if note:
            entry["note"] = note
        if name in SAME_AS_BASE:
            entry["same_as_base"] = True
        manifest[name + ".lstm"] = entry
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump({"about": "Crafted .lstm files with the verdict a conforming reader reaches (docs/FORMAT.md §7); "
                            "'accept' files read as a model (those noted so, the same model as base.lstm), "
                            "'refuse' files are refused with the error kind given, by the rule given.",
                   "files": manifest}, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"wrote {len(CASES)} files to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    sys.exit(main())
