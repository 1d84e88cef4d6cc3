"""What it would cost Redis to take ring rows as a mask and the non-zero values instead of
dense rows: two Lua scripts SETRANGE the 15 32-channel float16 rows of a one-reading save
of the shipped model into a key, one from dense rows, one expanding sparse rows (a 32-bit
mask per row, then its non-zero values; zeros at ``--zeros`` of the values, about what
``ring_row_zeros`` measures). Checks that both store the same bytes, then prints the
bytes sent and Redis' own time per call (``INFO commandstats``), in turns. A third script
stores only the 7 rows of the block inputs, dense: what a save would send if Redis kept no
first-convolution rings (``derived_rings``). Asserts nothing.

Run: .venv/bin/python -m tests.benchmarks.sparse_rows_lua [--calls 20000] [--zeros 0.36]
"""

from __future__ import annotations

import argparse
import struct
import tempfile
from pathlib import Path

import numpy as np
import redis

from tests.integration.redis_proc import RedisProc

ROWS, CHANNELS = 15, 32
BLOCK_INPUT_ROWS = 7  # the 32-channel block inputs: every block's but the first


def dense_script(rows: int) -> str:
    """A script that SETRANGEs ``rows`` dense 64-byte rows from ARGV[1] into KEYS[1]."""
    return f"""
local rows = ARGV[1]
for j = 0, {rows - 1} do
  redis.call('SETRANGE', KEYS[1], j * 64, string.sub(rows, j * 64 + 1, j * 64 + 64))
end
return 1"""


DENSE = dense_script(ROWS)
SPARSE = f"""
local rows, sub, byte, Z = ARGV[1], string.sub, string.byte, '\\0\\0'
local pos = 1
for j = 0, {ROWS - 1} do
  local masks = {{byte(rows, pos, pos + 3)}}
  pos = pos + 4
  local out, k = {{}}, 1
  for q = 1, 4 do
    local m = masks[q]
    for i = 1, 8 do
      if m % 2 == 1 then
        out[k] = sub(rows, pos, pos + 1)
        pos = pos + 2
      else
        out[k] = Z
      end
      m = (m - m % 2) / 2
      k = k + 1
    end
  end
  redis.call('SETRANGE', KEYS[1], j * 64, table.concat(out))
end
return 1"""


def payloads(zeros: float) -> tuple[bytes, bytes]:
    """One save's dense rows and the same rows as mask and non-zero values."""
    rng = np.random.default_rng(0)
    rows = (rng.random((ROWS, CHANNELS)) + 0.01).astype(np.float16)
    rows[rng.random((ROWS, CHANNELS)) < zeros] = 0
    bits = 1 << np.arange(CHANNELS, dtype=np.uint64)
    sparse = b"".join(
        struct.pack("<I", int(bits[row != 0].sum())) + row[row != 0].tobytes() for row in rows
    )
    return rows.tobytes(), sparse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--zeros", type=float, default=0.36)
    ap.add_argument("--turns", type=int, default=3)
    args = ap.parse_args()
    dense, sparse = payloads(args.zeros)
    with tempfile.TemporaryDirectory() as tmp, RedisProc(Path(tmp)) as srv:
        r = redis.Redis(port=srv.port)
        scripts = {
            "dense": (r.script_load(DENSE), dense),
            "sparse": (r.script_load(SPARSE), sparse),
            "7 rows": (
                r.script_load(dense_script(BLOCK_INPUT_ROWS)),
                dense[: 64 * BLOCK_INPUT_ROWS],
            ),
        }
        for name, (sha, payload) in scripts.items():
            r.evalsha(sha, 1, name, payload)
        same = r.get("dense") == r.get("sparse")
        print(
            f"rows of one save: dense {len(dense)} B, sparse {len(sparse)} B; "
            f"same bytes stored: {same}"
        )
        for turn in range(args.turns):
            for name, (sha, payload) in scripts.items():
                r.config_resetstat()
                pipe = r.pipeline(transaction=False)
                for _ in range(args.calls):
                    pipe.evalsha(sha, 1, "k", payload)
                pipe.execute()
                us = r.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
                print(f"turn {turn + 1} {name:6s}: {us:6.1f} us of Redis time per call")
        r.close()


if __name__ == "__main__":
    main()
