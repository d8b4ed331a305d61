#!/usr/bin/env python3
"""Kill-during-write: `lstmtool convert` is killed with SIGKILL at random points while it
writes a large model over an existing one, hundreds of times. After every kill the target must
be byte for byte the old file or the complete new one, and at most one temporary file (the
killed writer's) may be left; the next write of the same target removes it, so after a final
complete run no temporary file is left at all. Also: `convert a.lstm a.lstm` is safe and keeps
the file's permission bits.

    python3 tools/test_kill_write.py BIN [KILLS] [MIB]      (defaults: 200 kills, 8 MiB)

Needs only the Python standard library. Prints one summary line for docs/SECURITY.md.
"""
import hashlib
import json
import os
import random
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time


def safetensors_lstm(path, hidden, seed):
    """A torch.nn.LSTM state dict (I = H = hidden, one layer) with random float32 weights."""
    rng = random.Random(seed)
    tensors = {
        "weight_ih_l0": (4 * hidden, hidden), "weight_hh_l0": (4 * hidden, hidden),
        "bias_ih_l0": (4 * hidden,), "bias_hh_l0": (4 * hidden,),
    }
    header, blobs, offset = {}, [], 0
    for name, shape in tensors.items():
        n = 1
        for d in shape:
            n *= d
        # Random bytes would hold NaNs; small floats from a few random words repeated are enough.
        words = [rng.uniform(-0.1, 0.1) for _ in range(1024)]
        data = struct.pack(f"<{1024}f", *words) * (n // 1024) + struct.pack(f"<{n % 1024}f", *words[: n % 1024])
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def temporaries(d, name):
    return [f for f in os.listdir(d) if f.startswith(f".{name}.tmp-")]


def main():
    binary = os.path.abspath(sys.argv[1])
    kills = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    mib = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    hidden = max(64, int((mib * 2**20 / 4 / 8) ** 0.5) // 64 * 64)
    env = dict(os.environ, SOURCE_DATE_EPOCH="0", SWIFT_BACKTRACE="enable=no")
    with tempfile.TemporaryDirectory() as d:
        sources = []
        for seed in (1, 2):
            st = os.path.join(d, f"src{seed}.safetensors")
            safetensors_lstm(st, hidden, seed)
            src = os.path.join(d, f"src{seed}.lstm")
            subprocess.run([binary, "convert", st, src, "--cell", "lstm", "--encoding", "raw"], env=env, check=True,
                           stderr=subprocess.DEVNULL)
            os.remove(st)
            sources.append(src)
        # What a complete conversion of each source writes (deterministic with SOURCE_DATE_EPOCH).
        expected = {}
        for src in sources:
            ref = src + ".ref.lstm"
            t0 = time.monotonic()
            subprocess.run([binary, "convert", src, ref], env=env, check=True, stderr=subprocess.DEVNULL)
            duration = time.monotonic() - t0
            expected[src] = sha(ref)
            os.remove(ref)
        target = os.path.join(d, "target.lstm")
        subprocess.run([binary, "convert", sources[0], target], env=env, check=True, stderr=subprocess.DEVNULL)
        os.chmod(target, 0o640)
        size = os.path.getsize(target)
        rng = random.Random(11)
        previous_left = []
        old_kept = new_whole = finished = mid_write = 0
        for i in range(kills):
            before = sha(target)
            # Always write the other model, so that old and new differ.
            src = sources[1] if before == expected[sources[0]] else sources[0]
            p = subprocess.Popen([binary, "convert", src, target], env=env, stderr=subprocess.DEVNULL)
            if i % 2 == 0:
                # Anywhere in the run, start-up and reading included.
                time.sleep(rng.uniform(0, duration * 1.1))
            else:
                # Inside the write: once this writer's temporary file exists, a random moment later.
                deadline = time.monotonic() + duration * 5
                while time.monotonic() < deadline and p.poll() is None and \
                        not [f for f in temporaries(d, "target.lstm") if f".tmp-{p.pid}-" in f]:
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0, duration * 0.5))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            else:
                finished += 1
            p.wait()
            after = sha(target)
            if after == before:
                old_kept += 1
            elif after == expected[src]:
                new_whole += 1
            else:
                sys.exit(f"kill {i}: the target is neither the old file nor the new one")
            left = temporaries(d, "target.lstm")
            if [f for f in left if f".tmp-{p.pid}-" in f]:
                mid_write += 1
            previous_left = left
            if len(left) > 1:
                sys.exit(f"kill {i}: {len(left)} temporary files left ({left}): an earlier one was not removed")
            if stat.S_IMODE(os.stat(target).st_mode) != 0o640:
                sys.exit(f"kill {i}: the target lost its permission bits")
        subprocess.run([binary, "convert", sources[0], target], env=env, check=True, stderr=subprocess.DEVNULL)
        if temporaries(d, "target.lstm"):
            sys.exit(f"a complete run left temporary files: {temporaries(d, 'target.lstm')}")
        # The input named as the output: the model is unchanged, the mode kept.
        subprocess.run([binary, "convert", target, target, "--encoding", "shuffle_zlib"], env=env, check=True, stderr=subprocess.DEVNULL)
        subprocess.run([binary, "convert", target, target, "--encoding", "raw"], env=env, check=True, stderr=subprocess.DEVNULL)
        if sha(target) != expected[sources[0]]:
            sys.exit("convert a.lstm a.lstm changed the model")
        if stat.S_IMODE(os.stat(target).st_mode) != 0o640:
            sys.exit("convert a.lstm a.lstm lost the permission bits")
        print(f"kill-during-write: {kills} SIGKILLs during {size / 2**20:.1f} MiB writes (one write ≈ {duration:.2f} s): "
              f"{old_kept} left the old file, {new_whole} the complete new one ({finished} had finished), "
              f"{mid_write} struck while the temporary file was being written, "
              f"never anything else; at most one temporary file at a time, none after the next complete run; "
              f"convert a.lstm a.lstm kept the model and mode 0640")


if __name__ == "__main__":
    main()
