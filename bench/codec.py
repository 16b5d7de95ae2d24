"""Which compressor for stored run states: bytes and time per state, ``python -m bench.codec``.

Compares the SDK's own ``to_string()`` (indented JSON, what a hand-written store would keep)
with compact JSON and compact JSON through zlib, bz2 and lzma at typical levels.
"""

from __future__ import annotations

import asyncio
import bz2
import json
import lzma
import statistics
import time
import zlib
from collections.abc import Callable

from bench.states import paused_state

Codec = tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]

CODECS: list[Codec] = [
    ("json (compact, none)", lambda b: b, lambda b: b),
    ("zlib-1", lambda b: zlib.compress(b, 1), zlib.decompress),
    ("zlib-6", lambda b: zlib.compress(b, 6), zlib.decompress),
    ("zlib-9", lambda b: zlib.compress(b, 9), zlib.decompress),
    ("bz2-9", lambda b: bz2.compress(b, 9), bz2.decompress),
    ("lzma-1", lambda b: lzma.compress(b, preset=1), lzma.decompress),
    ("lzma-6", lambda b: lzma.compress(b, preset=6), lzma.decompress),
]


def _median_ms(func: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def main(repeat: int = 50) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for label, turns in (("short (1 turn)", 1), ("long (200 turns)", 200)):
        _, state = await paused_state(turns)
        baseline = len(json.dumps(state, indent=2).encode())
        raw = json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode()
        print(f"\n{label}: SDK to_string() = {baseline:,} bytes")
        print(f"{'codec':<22}{'bytes':>10}{'vs to_string':>14}{'encode ms':>11}{'decode ms':>11}")
        for name, compress, decompress in CODECS:
            blob = compress(raw)
            enc = _median_ms(lambda c=compress, r=raw: c(r), repeat)
            dec = _median_ms(lambda d=decompress, b=blob: d(b), repeat)
            ratio = len(blob) / baseline
            print(f"{name:<22}{len(blob):>10,}{ratio:>14.3f}{enc:>11.3f}{dec:>11.3f}")
            rows.append(
                {
                    "state": label,
                    "codec": name,
                    "bytes": len(blob),
                    "ratio": ratio,
                    "encode_ms": enc,
                    "decode_ms": dec,
                }
            )
    return rows


if __name__ == "__main__":
    asyncio.run(main())
