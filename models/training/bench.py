"""Per-face invoke time of TFLite models (1 thread, median), for the speed requirement.

    python -m models.training.bench models/emotion_int8.tflite models/emotion_model_quantized.tflite
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from .tflite_io import load_interpreter


def invoke_ms(path: Path, runs: int = 300, warmup: int = 20, threads: int = 1) -> float:
    """Median wall time of one ``invoke()`` in milliseconds on a random input."""
    interp = load_interpreter(path, threads)
    inp = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    if inp["dtype"] == np.int8:
        x = rng.integers(-128, 128, size=inp["shape"], dtype=np.int8)
    else:
        x = rng.random(inp["shape"], dtype=np.float32)
    interp.set_tensor(inp["index"], x)
    times = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        interp.invoke()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> None:
    """CLI: print the median invoke time of each model (rounds interleaved to share any CPU contention)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=300, help="invokes per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds; models alternate within each round")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    results: dict[Path, list[float]] = {path: [] for path in args.models}
    for _ in range(args.rounds):
        for path in args.models:
            results[path].append(invoke_ms(path, args.runs, threads=args.threads))
    for path, times in results.items():
        per_round = " ".join(f"{t:.3f}" for t in times)
        print(f"{path}: {statistics.median(times):.3f} ms/invoke (median over {args.rounds} rounds of "
              f"the median of {args.runs} invokes, {args.threads} thread; rounds: {per_round})")


if __name__ == "__main__":
    main()
