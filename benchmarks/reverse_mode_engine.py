"""How fast is the reference reverse-mode engine of assignment 3?  Ratios against baselines, side by side.

    python benchmarks/reverse_mode_engine.py [--repeat N] [--cpu K]

Two workloads, each timed for every implementation in the same process, interleaved
call by call (these 2-core machines are noisy; a single process pinned to one CPU gives stable figures):

1. the gradient of an MLP loss (784-256-256-10, tanh, linear output, mean squared error, batch 64,
   float64) -- large arrays, so the engine's bookkeeping should vanish next to the matrix products.
   Reported as multiples of one plain NumPy forward pass and of hand-written backprop (the floor);
2. the gradient of a scalar function of 1,000 elementary operations on 0-d arrays -- tiny arrays, so
   this measures the per-operation overhead of building and walking the graph.

Implementations: hand-written NumPy backprop, the reference engine (autograder/reference/reverse_mode.py),
HIPS autograd (`pip install autograd`, the `bench` extra), JAX without jit, and jax.jit(jax.grad).
The targets (issue 6): the engine's MLP gradient at most 1.4x hand-written backprop and at least 1.5x
faster than HIPS autograd; on the scalar function at least 3x faster than HIPS autograd.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One CPU, one BLAS thread: a second BLAS thread on the same CPU only spins (measured: forward passes 4x slower).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402  (after the thread settings above)

from autograder.reference import reverse_mode as engine  # noqa: E402

SIZES, BATCH, SCALAR_STEPS = (784, 256, 256, 10), 64, 250  # 250 steps of 4 operations: 1,000 operations


# --- the MLP --------------------------------------------------------------------------------------------

def mlp_forward(params, x, y):
    v = x
    for W in params[:-1]:
        v = np.tanh(v @ W)
    return np.sum((v @ params[-1] - y) ** 2) / len(x)


def mlp_backprop(params, x, y):
    """Hand-written backprop: the floor any engine is measured against."""
    activations = [x]
    for W in params[:-1]:
        activations.append(np.tanh(activations[-1] @ W))
    g = 2 * (activations[-1] @ params[-1] - y) / len(x)
    grads = [activations[-1].T @ g]
    g = g @ params[-1].T
    for k in range(len(params) - 2, -1, -1):
        g = g * (1 - activations[k + 1] ** 2)
        grads.append(activations[k].T @ g)
        if k:
            g = g @ params[k].T
    return grads[::-1]


def mlp_generic(ops):
    def loss(*params_x_y):
        *params, x, y = params_x_y
        v = x
        for W in params[:-1]:
            v = ops.tanh(v @ W)
        return ops.sum((v @ params[-1] - y) ** 2) / len(x)
    return loss


# --- the scalar function ----------------------------------------------------------------------------------

def scalar_generic(ops):
    def f(x):
        for _ in range(SCALAR_STEPS):
            x = ops.tanh(x) * 0.5 + x * 0.25
        return x
    return f


def scalar_backprop(x):
    values = []
    for _ in range(SCALAR_STEPS):
        values.append(x)
        x = np.tanh(x) * 0.5 + x * 0.25
    g = 1.0
    for v in reversed(values):
        g = g * ((1 - np.tanh(v) ** 2) * 0.5 + 0.25)
    return g


# --- harness ----------------------------------------------------------------------------------------------

def interleaved(thunks: dict, repeat: int) -> dict[str, float]:
    """Median seconds per call of each thunk, calling them in turn (order rotated every round)."""
    names, times = list(thunks), {name: [] for name in thunks}
    for round_ in range(repeat):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            start = time.perf_counter()
            thunks[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def implementations():
    """name -> (MLP gradient thunk factory, scalar gradient thunk factory); a factory returns None if missing."""
    impls = {
        "hand-written backprop": (lambda p, x, y: lambda: mlp_backprop(p, x, y),
                                  lambda s: lambda: scalar_backprop(s)),
        "reference engine": (lambda p, x, y: lambda: engine.grad(
                                 lambda *Ws: mlp_generic(engine.anp)(*Ws, x, y))(*p),
                             lambda s: lambda: engine.grad(scalar_generic(engine.anp))(s)),
    }
    try:
        import autograd
        import autograd.numpy as hnp
        hips = mlp_generic(hnp)
        impls["HIPS autograd"] = (lambda p, x, y: lambda: autograd.grad(
                                      lambda Ws: hips(*Ws, x, y))(list(p)),
                                  lambda s: lambda: autograd.grad(scalar_generic(hnp))(s))
    except ImportError:
        print("HIPS autograd is not installed (pip install autograd): its rows are skipped\n")
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    jmlp = mlp_generic(jnp)
    plain = jax.grad(lambda Ws, x, y: jmlp(*Ws, x, y))
    jitted = jax.jit(plain)
    jscalar = jax.grad(scalar_generic(jnp))
    jscalar_jit = jax.jit(jscalar)
    block = jax.block_until_ready
    impls["JAX, not jitted"] = (lambda p, x, y: lambda: block(plain(list(p), x, y)),
                                lambda s: lambda: block(jscalar(s)))
    impls["jax.jit(jax.grad)"] = (lambda p, x, y: lambda: block(jitted(list(p), x, y)),
                                  lambda s: lambda: block(jscalar_jit(s)))
    return impls


def check_agreement(impls, params, x, y, s) -> None:
    """Every implementation computes the same gradients (a benchmark of wrong code measures nothing)."""
    truth = mlp_backprop(params, x, y)
    for name, (mlp, scalar) in impls.items():
        grads = mlp(params, x, y)()
        assert all(np.allclose(np.asarray(a), b, rtol=1e-8, atol=1e-12) for a, b in zip(grads, truth)), name
        assert np.isclose(float(scalar(s)()), float(scalar_backprop(s)), rtol=1e-8), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=100, help="timed calls per implementation (MLP)")
    parser.add_argument("--cpu", type=int, default=1, help="pin the process to this CPU (-1: do not pin)")
    args = parser.parse_args()
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu % os.cpu_count()})

    rng = np.random.default_rng(0)
    params = [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(SIZES, SIZES[1:])]
    x, y = rng.standard_normal((BATCH, SIZES[0])), rng.standard_normal((BATCH, SIZES[-1]))
    s = np.array(0.3)
    impls = implementations()
    check_agreement(impls, params, x, y, s)
    for mlp, scalar in impls.values():  # warm up: compile the jitted ones, fill caches
        mlp(params, x, y)()
        scalar(s)()

    # Interleaved call by call, in a rotating order: a slow spell of the machine hits every row alike.
    thunks = {"forward": lambda: mlp_forward(params, x, y)}
    thunks.update({name: mlp(params, x, y) for name, (mlp, _) in impls.items()})
    mlp_t = interleaved(thunks, args.repeat)
    one_forward = mlp_t.pop("forward")
    scalar_t = interleaved({name: scalar(s) for name, (_, scalar) in impls.items()}, max(3, args.repeat // 10))

    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float64: one NumPy forward pass = "
          f"{one_forward * 1e3:.2f} ms")
    print(f"  {'implementation':<24}{'gradient ms':>12}{'x forward':>11}{'x hand-written':>16}{'engine faster by':>18}")
    for name, t in mlp_t.items():
        print(f"  {name:<24}{t * 1e3:>12.2f}{t / one_forward:>11.2f}{t / mlp_t['hand-written backprop']:>16.2f}"
              f"{t / mlp_t['reference engine']:>17.2f}x")
    print(f"\nScalar function of {4 * SCALAR_STEPS} elementary operations (per-operation overhead)")
    print(f"  {'implementation':<24}{'gradient ms':>12}{'us per op':>11}{'engine faster by':>18}")
    for name, t in scalar_t.items():
        print(f"  {name:<24}{t * 1e3:>12.2f}{t / (4 * SCALAR_STEPS) * 1e6:>11.2f}"
              f"{t / scalar_t['reference engine']:>17.2f}x")

    engine_vs_floor = mlp_t["reference engine"] / mlp_t["hand-written backprop"]
    print(f"\ntarget: engine MLP gradient <= 1.4x hand-written backprop: {engine_vs_floor:.2f}x "
          f"{'met' if engine_vs_floor <= 1.4 else 'MISSED'}")
    if "HIPS autograd" in impls:
        mlp_gain = mlp_t["HIPS autograd"] / mlp_t["reference engine"]
        scalar_gain = scalar_t["HIPS autograd"] / scalar_t["reference engine"]
        print(f"target: engine >= 1.5x faster than HIPS autograd on the MLP: {mlp_gain:.2f}x "
              f"{'met' if mlp_gain >= 1.5 else 'MISSED'}")
        print(f"target: engine >= 3x faster than HIPS autograd on the scalar function: {scalar_gain:.2f}x "
              f"{'met' if scalar_gain >= 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
