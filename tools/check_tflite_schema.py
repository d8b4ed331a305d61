#!/usr/bin/env python3
"""Checks schema/tflite_subset.fbs against LiteRT's own schema bindings.

    .venv/bin/python tools/check_tflite_schema.py

For every table of the subset, every field's vtable slot (4 + 2·slot, a union taking two) must
be the offset LiteRT's generated Python accessor reads (`self._tab.Offset(N)` in
ai_edge_litert.schema_py_generated); every enum value and union type number must be LiteRT's.
A subset that dropped or reordered a field fails here. Prints `N passed, M failed`.
"""
import inspect
import os
import re
import sys

from ai_edge_litert import schema_py_generated as S

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_tflite_schema import SCHEMA, parse  # noqa: E402

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", what)


def camel_upper(name):
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def offset_of(cls, method):
    fn = getattr(cls, method, None)
    if fn is None:
        return None
    m = re.search(r"self\._tab\.Offset\((\d+)\)", inspect.getsource(fn))
    return int(m.group(1)) if m else None


def main():
    enums, unions, tables, _ = parse(open(SCHEMA).read())
    for name, fields in tables.items():
        cls = getattr(S, name)
        slot = 0
        for f in fields:
            acc = camel_upper(f["name"])
            if f["type"] in unions:
                check(offset_of(cls, acc + "Type") == 4 + 2 * slot, f"{name}.{f['name']}_type slot {slot}")
                check(offset_of(cls, acc) == 4 + 2 * (slot + 1), f"{name}.{f['name']} slot {slot + 1}")
                slot += 2
            else:
                got = offset_of(cls, acc)
                check(got == 4 + 2 * slot, f"{name}.{f['name']}: subset slot {slot} (offset {4 + 2 * slot}), LiteRT offset {got}")
                slot += 1
    for name, (_, vals) in enums.items():
        cls = getattr(S, name)
        for k, v in vals:
            check(getattr(cls, k, None) == v, f"{name}.{k} = {v}, LiteRT {getattr(cls, k, None)}")
    for name, vals in unions.items():
        cls = getattr(S, name)
        for k, v in vals:
            check(getattr(cls, k, None) == v, f"union {name}.{k} = {v}, LiteRT {getattr(cls, k, None)}")
    print(f"tflite_subset.fbs against LiteRT's schema bindings: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
