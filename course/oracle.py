"""The truth every check compares against: JAX, always in float64.

JAX computes in float32 unless ``jax_enable_x64`` is set, and on a GPU its
matrix products may even use TF32 (about 3 significant digits).  A reference
that is itself off by 1e-4 cannot judge a student's answer to 1e-6, so every
oracle call here first switches float64 on and converts its inputs to
float64.  The notebooks' setup cell does the same for the students' code.
"""

from __future__ import annotations

import os

# Without this JAX prints "no GPU/TPU found, falling back to CPU" on stderr,
# and nbgrader scores any test cell that wrote to stderr as 0.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402


from course.contract import JAX_CACHE as CACHE_VARIABLE  # noqa: E402


def _jax():
    """JAX, imported on first use (importing this module stays cheap) and switched to float64."""
    import jax
    if not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)
    if not _CACHE_CHECKED:
        _use_compilation_cache(jax)
    return jax


_CACHE_CHECKED = False


def _use_compilation_cache(jax) -> None:
    """Keep JAX's compiled kernels on disk when ``COURSE_JAX_CACHE`` names a folder (tests, graders).

    The oracle runs JAX op by op, and each new (operation, shape) is compiled once per process: about
    20 s for assignment 3's hidden tests in a fresh kernel, 6 s when the compilations are read back from
    disk.  A grader starts a fresh kernel per submission, so the cache pays for itself at the second one.
    """
    global _CACHE_CHECKED
    _CACHE_CHECKED = True
    folder = os.environ.get(CACHE_VARIABLE)
    if folder:
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def enable_float64() -> None:
    """Make JAX compute in float64 (idempotent)."""
    _jax()


def _f64(tree):
    jax = _jax()
    return jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, dtype=jax.numpy.float64), tree)


def _numpy(tree):
    return _jax().tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float64), tree)


def value(f, *args):
    return _numpy(f(*_f64(args)))


def gradient(f, *args, argnums=0):
    return _numpy(_jax().grad(f, argnums=argnums)(*_f64(args)))


def jvp(f, primals, tangents):
    out, tangent_out = _jax().jvp(f, _f64(tuple(primals)), _f64(tuple(tangents)))
    return _numpy(out), _numpy(tangent_out)


def vjp(f, *primals):
    """Return ``(value, vjp_fn)`` with ``vjp_fn`` mapping a cotangent to a tuple of float64 arrays."""
    out, pullback = _jax().vjp(f, *_f64(primals))
    return _numpy(out), lambda u: _numpy(pullback(_f64(u)))


def jacobian(f, x):
    return _numpy(_jax().jacfwd(f)(_f64(x)))


def hessian(f, x):
    """The dense Hessian of a scalar f at x (n x n: only for small n).

    Compiled as a whole: one compilation (about 0.1 s) costs less than running the many small
    operations of a Hessian one by one the first time, each compiled on its own.
    """
    jax = _jax()
    return _numpy(jax.jit(jax.hessian(f))(_f64(x)))


def hvp(f, x, v):
    """The Hessian-vector product H(x) v, as the directional derivative of the gradient (no n x n array)."""
    jax = _jax()
    return _numpy(jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])(_f64(x), _f64(v)))
