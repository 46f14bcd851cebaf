"""numpy (BLAS) f32 matmul timing helper for bench/peers/matmul-peers.mjs.

Usage: python3 numpy_matmul.py '{"shapes": [[M, N, K], ...], "runs": 7}'
Thread count comes from OPENBLAS_NUM_THREADS in the environment.
Prints one JSON object on stdout.
"""
import json
import sys
import time

import numpy as np


def blas_info():
    try:
        import threadpoolctl

        pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            return {
                "source": "threadpoolctl",
                "internal_api": p.get("internal_api"),
                "version": p.get("version"),
                "architecture": p.get("architecture"),
                "num_threads": p.get("num_threads"),
                "threading_layer": p.get("threading_layer"),
                "filepath": p.get("filepath"),
            }
        return {"source": "threadpoolctl", "internal_api": None, "note": "no BLAS pool found"}
    except Exception as e:  # threadpoolctl missing: fall back to numpy's build config
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            np.show_config()
        return {"source": "numpy.show_config", "error": repr(e), "config": buf.getvalue()[:2000]}


def check(out, a, b_kn, samples=8):
    """Largest |out - exact| / sum|a||b| over a few entries (float64 reference)."""
    m, n = out.shape
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(samples):
        i = int(rng.integers(m))
        j = int(rng.integers(n))
        av = a[i].astype(np.float64)
        bv = b_kn[:, j].astype(np.float64)
        ref = float(np.dot(av, bv))
        scale = float(np.dot(np.abs(av), np.abs(bv))) or 1.0
        worst = max(worst, abs(float(out[i, j]) - ref) / scale)
    return worst


def best_time(fn, runs, min_run_s=0.02):
    fn()  # warm-up
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(np.ceil(min_run_s / one)))
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best, reps


def main():
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    shapes = cfg.get("shapes", [[1024, 1024, 1024], [1, 1024, 1024]])
    runs = int(cfg.get("runs", 7))
    rng = np.random.default_rng(0)
    results = []
    for m, n, k in shapes:
        a = (rng.random((m, k), dtype=np.float32) * 2 - 1).astype(np.float32)
        b = (rng.random((k, n), dtype=np.float32) * 2 - 1).astype(np.float32)  # B [K, N]
        w = np.ascontiguousarray(b.T)  # W [N, K] (qiusuo layout)
        for layout, fn, out_fn in (
            ("A[M,K] @ B[K,N] (row-major)", lambda: a @ b, lambda: a @ b),
            ("A[M,K] @ W.T, W[N,K] row-major (qiusuo layout; BLAS transB)", lambda: a @ w.T, lambda: a @ w.T),
        ):
            err = check(out_fn(), a, b)
            ok = err < 1e-4
            secs, reps = best_time(fn, runs) if ok else (None, 0)
            results.append({"M": m, "N": n, "K": k, "layout": layout, "seconds": secs,
                            "reps_per_run": reps, "max_rel_err": err, "ok": ok})
    print(json.dumps({"numpy": np.__version__, "blas": blas_info(), "results": results}))


if __name__ == "__main__":
    main()
