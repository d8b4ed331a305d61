#!/usr/bin/env python3
"""Lists public declarations of the library modules that have no doc comment.

    python3 tools/check_doc_comments.py [--count]

A declaration is `public` (or `open`) at the start of a line, after optional attributes.
It is documented when the nearest non-attribute line above it ends a `///` comment block.
Exits 1 when any is missing, so `make test` keeps the API documented.
"""
import pathlib, re, sys

MODULES = ["Sources/LSTMKit", "Sources/LSTMCore"]
DECL = re.compile(r"^\s*(@\w+(\([^)]*\))?\s+)*(public|open)\s+(?!import)")

def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    missing, total = [], 0
    for mod in MODULES:
        for path in sorted((root / mod).rglob("*.swift")):
            lines = path.read_text().splitlines()
            for i, line in enumerate(lines):
                if not DECL.match(line) or "public import" in line:
                    continue
                # `public extension` blocks and conformance-only extensions document their members.
                if re.match(r"^\s*public\s+extension\b", line):
                    continue
                total += 1
                j = i - 1
                while j >= 0 and re.match(r"^\s*@\w+", lines[j]):
                    j -= 1
                if j < 0 or not lines[j].strip().startswith("///"):
                    missing.append(f"{path.relative_to(root)}:{i + 1}: {line.strip()[:100]}")
    for m in missing:
        print(m)
    print(f"{total - len(missing)} of {total} public declarations documented")
    return 1 if missing else 0

if __name__ == "__main__":
    sys.exit(main())
