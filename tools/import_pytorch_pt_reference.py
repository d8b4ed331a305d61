#!/usr/bin/env python3
"""Copy the torch.save checkpoint reference data into fixtures/pytorch-pt/ and add golden.json files.

    python3 tools/import_pytorch_pt_reference.py [SOURCE_DIR]

SOURCE_DIR defaults to /work/shared/reference/pytorch-pt. For every case of its cases/manifest.json
the script copies the case folder unchanged (model.pt or model.pth, x/h0/c0.npy, PyTorch's float32
outputs y/hn/cn.npy and float64 outputs y64/hn64/cn64.npy) and writes golden.json from the manifest:
the f32 and f64 runs with their tolerances, and import_options from the case's convert_args
(--prefix, --cell, --nonlinearity). It copies the hostile files of bad/, both manifests, the
README and make.py unchanged. Needs only the Python standard library.
"""
import json
import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SRC = "/work/shared/reference/pytorch-pt"
OUT = os.path.join(REPO, "fixtures", "pytorch-pt")
FLAGS = {"--prefix": "prefix", "--cell": "cell", "--nonlinearity": "nonlinearity"}


def import_options(args):
    opts = {}
    it = iter(args)
    for flag in it:
        if flag not in FLAGS:
            raise SystemExit(f"unknown convert argument {flag}")
        opts[FLAGS[flag]] = next(it)
    return opts


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    man = json.load(open(os.path.join(src, "cases", "manifest.json")))
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for f in ("README.md", "make.py"):
        shutil.copy(os.path.join(src, f), os.path.join(OUT, "SOURCE_" + f if f == "README.md" else f))
    shutil.copy(os.path.join(src, "cases", "manifest.json"), os.path.join(OUT, "manifest.json"))
    shutil.copytree(os.path.join(src, "bad"), os.path.join(OUT, "bad"))
    tol = man["tolerances"]
    for case in man["cases"]:
        d = os.path.join(OUT, case["dir"])
        shutil.copytree(os.path.join(src, "cases", case["dir"]), d)
        feat = case["features"]
        golden = {
            "name": case["name"],
            "description": (f"{case['source']} written by torch.save ({feat['layout']}, {feat['weights_dtype']} weights): "
                            f"torch.nn.{feat['cell'].upper() if feat['cell'] != 'rnn' else 'RNN'} with {feat['layers']} layer(s), "
                            f"{feat['directions']} direction(s), hidden {feat['hidden_size']}"
                            + (f", projection {feat['proj_size']}" if feat.get("proj_size") else "")
                            + f"; proves the .pt reader against PyTorch's own outputs."
                            + (f" {case['note']}" if case.get("note") else "")),
            "model": case["source"],
            "inputs": case["runs"][0]["inputs"],
            "batch_first": False,
            "expected": {},
        }
        for run in case["runs"]:
            assert run["inputs"] == golden["inputs"] and not run["batch_first"]
            t = tol[run["tolerance"]]
            golden["expected"][run["precision"]] = {
                "outputs": run["expected"],
                "reference": next(iter(run["expected_sources"].values())),
                "atol": t["atol"],
                "rtol": t["rtol"],
            }
        opts = import_options(case["convert_args"])
        if opts:
            golden["import_options"] = opts
        golden["generator"] = "tools/import_pytorch_pt_reference.py from the shared pytorch-pt reference (make.py, " \
                              f"torch {man['tools']['torch']})"
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump(golden, f, indent=2)
            f.write("\n")
        print(case["name"], opts)


if __name__ == "__main__":
    main()
