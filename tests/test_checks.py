"""Unit tests of :mod:`course.checks` and :mod:`course.counting`.

Every check a student sees goes through ``compare``: these tests show that it
passes correct answers (also in float32), fails wrong ones, and names the
classic mistakes only when they were made.  The ``check_*`` helpers are run
against the JAX oracle on non-square, non-symmetric problems whose
derivatives are written out by hand here with NumPy.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course import oracle  # first: it keeps JAX on the CPU
from course.checks import (
    ATOL_FLOOR,
    EXACT_RTOL,
    FLOAT32_RTOL,
    CheckFailed,
    assert_close,
    check_calls,
    check_gradient,
    check_jacobian,
    check_jvp,
    check_value,
    check_vjp,
    compare,
)
from course.counting import Counted, ForbiddenDifferentiation, count_calls

import jax  # noqa: E402  (after course.oracle)
import jax.numpy as jnp  # noqa: E402

# Deterministic, no example database written into the repository, no deadline
# (the first call of a JAX function compiles).
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=40,
                    suppress_health_check=[HealthCheck.too_slow])

SIGN = "opposite sign"
TWICE = "twice the right one"
HALF = "half the right one"
TRANSPOSE = "transpose of the right one"
ZEROS = "all zeros"
FACTOR = "multiplied by"


# ---------------------------------------------------------------------------
# Strategies and helpers

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
float_arrays = shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=finite))
seeds = st.integers(0, 2**32 - 1)
small_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


def generic_array(rng: np.random.Generator, shape) -> np.ndarray:
    """Entries of both signs over six decades, none zero: nothing special about them."""
    magnitude = 10.0 ** rng.uniform(-3, 3)
    values = rng.standard_normal(shape) * magnitude
    return np.where(values == 0, magnitude, values)


def has_two_nonzero_entries(e: np.ndarray) -> bool:
    return np.count_nonzero(e) >= 2


# ---------------------------------------------------------------------------
# Correct answers pass


@PROPERTY
@given(expected=float_arrays, seed=seeds)
def test_correct_answer_with_tiny_relative_noise_passes(expected, seed):
    rng = np.random.default_rng(seed)
    noisy = expected * (1 + 1e-9 * rng.standard_normal(expected.shape))
    result = compare(noisy, expected)
    assert result.ok, result.message
    assert result.diagnosis is None
    assert "OK" in result.message
    assert result.max_rel_error <= 1e-8


@PROPERTY
@given(expected=float_arrays)
def test_answer_passes_against_itself_as_list_and_as_jax_array(expected):
    assert compare(expected.tolist(), expected).ok
    assert compare(jnp.asarray(expected), expected).ok


@PROPERTY
@given(shape=small_shapes, seed=seeds)
def test_float32_version_of_correct_answer_passes(shape, seed):
    expected = generic_array(np.random.default_rng(seed), shape)
    result = compare(expected.astype(np.float32), expected)
    assert result.ok, result.message


@PROPERTY
@given(shape=small_shapes, seed=seeds)
def test_float32_policy_allows_tf32_sized_errors_only_in_float32(shape, seed):
    rng = np.random.default_rng(seed)
    expected = generic_array(rng, shape)
    # what a GPU's TF32 matrix product may give: correct to about 6e-4
    tf32 = expected * (1 + 6e-4 * rng.choice([-1.0, 1.0], size=shape))
    assert compare(tf32.astype(np.float32), expected).ok
    # the same numbers in float64 are held to EXACT_RTOL and fail
    assert not compare(tf32, expected).ok
    # and float32 is not a licence for anything: 1% off fails
    assert not compare((expected * 1.01).astype(np.float32), expected).ok


@PROPERTY
@given(shape=small_shapes, seed=seeds)
def test_float32_answer_with_flipped_sign_still_fails(shape, seed):
    expected = generic_array(np.random.default_rng(seed), shape)
    result = compare((-expected).astype(np.float32), expected)
    assert not result.ok
    assert SIGN in result.message


def test_tolerance_is_exact_rtol_for_float64_and_float32_rtol_for_float32():
    expected = np.array([1.0, -2.0, 3.0])
    assert compare(expected * (1 + 0.5 * EXACT_RTOL), expected).ok
    assert not compare(expected * (1 + 20 * EXACT_RTOL), expected).ok
    assert compare((expected * (1 + 0.5 * FLOAT32_RTOL)).astype(np.float32), expected).ok
    assert not compare((expected * (1 + 3 * FLOAT32_RTOL)).astype(np.float32), expected).ok
    # an explicit, looser rtol (finite differences) is honoured
    assert compare(expected * (1 + 1e-5), expected, rtol=1e-4).ok


def test_round_off_around_an_exact_zero_passes():
    assert compare(np.array([0.0, 1e-14]), np.zeros(2)).ok
    assert not compare(np.array([0.0, 1e-6]), np.zeros(2)).ok


# ---------------------------------------------------------------------------
# Every wrong answer fails, and the message points at it


@PROPERTY
@given(shape=small_shapes, seed=seeds, data=st.data())
def test_one_entry_off_by_more_than_the_tolerance_fails_and_is_located(shape, seed, data):
    rng = np.random.default_rng(seed)
    expected = generic_array(rng, shape)
    flat = data.draw(st.integers(0, expected.size - 1))
    where = tuple(int(i) for i in np.unravel_index(flat, shape))
    allowed = EXACT_RTOL * np.max(np.abs(expected)) + ATOL_FLOOR + EXACT_RTOL * abs(expected[where])
    wrong = expected.copy()
    wrong[where] += 10 * allowed
    result = compare(wrong, expected)
    assert not result.ok
    assert f"1 of {expected.size} entries are off" in result.message
    line = next(line for line in result.message.splitlines() if "largest absolute error" in line)
    assert line.endswith(f"at index {where}")
    assert result.max_abs_error == pytest.approx(10 * allowed, rel=1e-6)


def test_message_reports_largest_absolute_and_relative_error_and_their_indices():
    expected = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    actual = expected.copy()
    actual[0, 0] += 0.3  # relative error 0.3: the largest
    actual[1, 0] += 0.5  # absolute error 0.5: the largest
    result = compare(actual, expected)
    assert not result.ok
    assert "2 of 6 entries are off" in result.message
    assert "largest absolute error 0.5 at index (1, 0)" in result.message
    assert "largest relative error 0.3 at index (0, 0)" in result.message
    assert "yours 4.5, expected 4" in result.message
    assert "tolerance" in result.message
    assert result.max_abs_error == pytest.approx(0.5)
    assert result.max_rel_error == pytest.approx(0.3)


def test_assert_close_raises_check_failed_with_the_message():
    with pytest.raises(CheckFailed, match="largest absolute error") as info:
        assert_close(np.array([1.0, 2.5]), np.array([1.0, 2.0]), name="the slope")
    assert str(info.value).startswith("the slope is wrong")
    assert isinstance(info.value, AssertionError)  # pytest and nbgrader show it as a failure
    assert assert_close([1.0, 2.0], [1.0, 2.0]).ok


# ---------------------------------------------------------------------------
# Diagnoses: each fires on its mistake, and not elsewhere


@pytest.fixture
def expected() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.standard_normal((4, 4))  # square, not symmetric


@pytest.mark.parametrize("mistake, text", [
    (lambda e: -e, SIGN),
    (lambda e: 2 * e, TWICE),
    (lambda e: 0.5 * e, HALF),
    (lambda e: e.T, TRANSPOSE),
    (lambda e: np.zeros_like(e), ZEROS),
    (lambda e: e * 1e-7, "multiplied by 1e-07"),  # a forward difference not divided by eps
    (lambda e: e / 1e-7, "multiplied by 1e+07"),  # divided by eps once too often
    (lambda e: 3.0 * e, "multiplied by 3"),
])
def test_each_classic_mistake_is_diagnosed(expected, mistake, text):
    result = compare(mistake(expected), expected)
    assert not result.ok
    assert result.diagnosis is not None and text in result.diagnosis
    assert f"Likely mistake: {result.diagnosis}" in result.message
    # only that one: no other classic mistake is named
    others = [t for t in (SIGN, TWICE, HALF, TRANSPOSE, ZEROS, FACTOR) if t not in text]
    assert not any(t in result.message for t in others)


def test_forward_difference_without_division_by_eps_is_diagnosed_as_a_constant_factor():
    """A realistic one: (f(w + eps e_i) - f(w)) without ``/ eps``, for f = sum(sin)."""
    eps = 1e-7
    w = np.random.default_rng(2).uniform(-1.5, 1.5, 6)
    forgot = np.array([np.sum(np.sin(w + eps * e_i)) - np.sum(np.sin(w)) for e_i in np.eye(6)])
    result = compare(forgot, np.cos(w), rtol=1e-4)  # the forward difference's own tolerance
    assert not result.ok
    assert "multiplied by 1e-07" in result.diagnosis
    assert compare(forgot / eps, np.cos(w), rtol=1e-4).ok


@PROPERTY
@given(shape=small_shapes, seed=seeds)
def test_diagnoses_fire_on_random_arrays(shape, seed):
    rng = np.random.default_rng(seed)
    e = generic_array(rng, shape)
    assert SIGN in compare(-e, e).diagnosis
    assert TWICE in compare(2 * e, e).diagnosis
    assert HALF in compare(e / 2, e).diagnosis
    assert ZEROS in compare(np.zeros(shape), e).diagnosis
    if e.size >= 2:
        assert "multiplied by 1e-07" in compare(e * 1e-7, e).diagnosis


@PROPERTY
@given(shape=small_shapes, seed=seeds)
def test_no_diagnosis_on_correct_or_unrelated_answers(shape, seed):
    rng = np.random.default_rng(seed)
    e = generic_array(rng, shape)
    right = compare(e, e)
    assert right.ok and right.diagnosis is None
    unrelated = generic_array(rng, shape)  # independent of e: no classic mistake explains it
    result = compare(unrelated, e)
    assert not result.ok
    assert result.diagnosis is None
    assert "Likely mistake" not in result.message


@pytest.mark.parametrize("actual, expected", [
    (3.5, 3.0),                                  # a wrong scalar is not "3.0 times 1.17"
    (np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 5.0])),
    (3.0001, 3.0),                               # nor "multiplied by 1"
])
def test_no_constant_factor_diagnosis_when_a_single_number_decides(actual, expected):
    result = compare(actual, expected)
    assert not result.ok
    assert result.diagnosis is None


def test_transpose_is_diagnosed_only_for_square_matrices_that_differ_from_their_transpose():
    rng = np.random.default_rng(3)
    sym = rng.standard_normal((3, 3))
    sym = sym + sym.T
    assert compare(sym.T, sym).ok  # transposing a symmetric matrix is no mistake
    assert TRANSPOSE not in (compare(sym + 1, sym).diagnosis or "")
    rect = rng.standard_normal((2, 3))
    result = compare(rect.T, rect)  # not square: a shape mismatch, not a wrong value
    assert result.diagnosis == "wrong shape"


def test_zeros_are_not_diagnosed_when_the_right_answer_is_zero():
    result = compare(np.ones(3), np.zeros(3))
    assert not result.ok
    assert result.diagnosis is None


def test_caller_supplied_constant_hint_fires_first_and_only_on_its_mistake(expected):
    hints = {"you forgot the factor 3 from d(x^3)/dx": 3.0}
    result = compare(3 * expected, expected, hints=hints)
    assert result.diagnosis == "you forgot the factor 3 from d(x^3)/dx"  # before "multiplied by 3"
    assert compare(expected, expected, hints=hints).diagnosis is None
    assert compare(-expected, expected, hints=hints).diagnosis.startswith("your answer has the opposite sign")
    assert FACTOR in compare(5 * expected, expected, hints=hints).diagnosis


def test_caller_supplied_callable_hint(expected):
    hints = {"you kept only the diagonal": lambda e: np.diag(np.diag(e)),
             "a flattened answer": lambda e: e.ravel()}  # another shape: must be skipped quietly
    result = compare(np.diag(np.diag(expected)), expected, hints=hints)
    assert result.diagnosis == "you kept only the diagonal"
    assert "Likely mistake: you kept only the diagonal" in result.message
    assert compare(expected, expected, hints=hints).ok
    assert compare(expected + 1.0, expected, hints=hints).diagnosis is None


def test_hints_reach_the_leaves_of_nested_answers(expected):
    hints = {"you kept only the diagonal": lambda e: np.diag(np.diag(e))}
    result = compare({"W": np.diag(np.diag(expected)), "b": np.ones(2)}, {"W": expected, "b": np.ones(2)},
                     hints=hints)
    assert result.diagnosis == "you kept only the diagonal"
    assert "['W']" in result.message


# ---------------------------------------------------------------------------
# Shapes, non-numbers, non-finite numbers


def test_shape_mismatch_names_both_shapes_and_the_meaning():
    result = compare(np.zeros(4), np.zeros(3), meaning="one partial derivative per input")
    assert not result.ok
    assert result.diagnosis == "wrong shape"
    assert "(4,)" in result.message and "(3,)" in result.message
    assert "one partial derivative per input" in result.message
    assert "transposed" not in result.message and "reshape" not in result.message


def test_shape_mismatch_says_transposed_for_swapped_2d_shapes():
    result = compare(np.ones((5, 3)), np.ones((3, 5)), meaning="(outputs, inputs)")
    assert "(5, 3)" in result.message and "(3, 5)" in result.message
    assert "It looks transposed" in result.message
    assert "reshape" not in result.message


@pytest.mark.parametrize("actual_shape, expected_shape", [((3, 1), (3,)), ((6,), (2, 3)), ((1,), ())])
def test_shape_mismatch_with_the_right_size_says_reshape(actual_shape, expected_shape):
    result = compare(np.ones(actual_shape), np.ones(expected_shape))
    assert not result.ok
    assert "reshape or ravel" in result.message
    assert "transposed" not in result.message


@pytest.mark.parametrize("kind, value", [("NaN", np.nan), ("inf", np.inf), ("inf", -np.inf)])
def test_non_finite_entries_are_named_with_their_index(kind, value):
    expected = np.arange(6.0).reshape(2, 3)
    actual = expected.copy()
    actual[1, 2] = value
    result = compare(actual, expected)
    assert not result.ok
    assert result.diagnosis == "not finite"
    assert f"contains {kind} at index (1, 2)" in result.message
    assert "1 non-finite entry in all" in result.message
    assert "expected 5 there" in result.message


def test_several_non_finite_entries_are_counted_and_the_first_is_named():
    actual = np.array([1.0, np.nan, np.inf, 4.0])
    result = compare(actual, np.ones(4))
    assert "contains NaN at index (1,)" in result.message
    assert "2 non-finite entries in all" in result.message


def test_none_says_return():
    result = compare(None, np.ones(3), name="the gradient")
    assert not result.ok
    assert "the gradient is None" in result.message
    assert "`return`" in result.message


def test_complex_answer_where_a_real_one_is_expected():
    expected = np.array([1.0, 2.0])
    result = compare(expected + 1j * np.array([0.5, 0.0]), expected)
    assert not result.ok
    assert "complex but should be real" in result.message
    assert ".imag" in result.message
    # a complex array whose imaginary part is zero is a real answer
    assert compare(expected + 0j, expected).ok
    assert not compare(-expected + 0j, expected).ok


@pytest.mark.parametrize("actual, text", [
    ([1.0, [2.0, 3.0]], "could not be turned into an array"),
    ({1, 2}, "not an array of numbers"),
])
def test_things_that_are_not_arrays_of_numbers(actual, text):
    result = compare(actual, np.ones(2))
    assert not result.ok
    assert text in result.message


# ---------------------------------------------------------------------------
# Tuples, lists and dicts


def test_nested_answers_pass_when_every_leaf_is_right():
    expected = {"W1": np.ones((2, 3)), "b1": np.zeros(2), "rest": (np.arange(3.0), 4.0)}
    actual = {"W1": np.ones((2, 3)), "b1": [0.0, 0.0], "rest": [np.arange(3.0), 4.0]}
    assert compare(actual, expected).ok


def test_dict_with_a_wrong_key():
    result = compare({"W1": np.ones(2), "b2": np.ones(2)}, {"W1": np.ones(2), "b1": np.ones(2)})
    assert not result.ok
    assert "missing the key(s) ['b1']" in result.message


def test_dict_with_a_missing_key_and_a_non_dict():
    result = compare({"W1": np.ones(2)}, {"W1": np.ones(2), "b1": np.ones(2)}, name="grads")
    assert "grads is missing the key(s) ['b1']" in result.message
    result = compare([np.ones(2)], {"W1": np.ones(2)})
    assert not result.ok
    assert "should be a dict with keys ['W1']" in result.message


@pytest.mark.parametrize("actual, got", [
    ((np.ones(2),), "a tuple of length 1"),
    ((np.ones(2), np.ones(2), np.ones(2)), "a tuple of length 3"),
    (np.ones((2, 2)), "a ndarray"),
])
def test_tuple_of_the_wrong_length_or_kind(actual, got):
    result = compare(actual, (np.ones(2), np.ones(2)))
    assert not result.ok
    assert f"should be a tuple of 2 items, got {got}" in result.message


def test_the_failing_leaf_is_named_by_its_path():
    rng = np.random.default_rng(4)
    W1, b1 = rng.standard_normal((3, 2)), rng.standard_normal(3)
    result = compare({"W1": -W1, "b1": b1}, {"W1": W1, "b1": b1}, name="grads")
    assert not result.ok
    assert "grads['W1'] is wrong" in result.message
    assert "['b1']" not in result.message  # only the failing leaf is reported
    assert SIGN in result.diagnosis

    result = compare((W1, 2 * b1), (W1, b1))
    assert "your answer[1] is wrong" in result.message
    assert "[0]" not in result.message
    assert TWICE in result.diagnosis

    result = compare({"layer": (W1, np.ones((2, 3)))}, {"layer": (W1, np.ones((3, 2)))})
    assert "your answer['layer'][1] has shape (2, 3)" in result.message
    assert "transposed" in result.message


def test_nested_errors_are_the_largest_over_the_leaves():
    result = compare((np.array([1.5]), np.array([10.0])), (np.array([1.0]), np.array([12.0])))
    assert result.max_abs_error == pytest.approx(2.0)
    assert result.max_rel_error == pytest.approx(0.5)


# ---------------------------------------------------------------------------
# The checks against JAX, on f(x) = tanh(A x) with A 3 x 5


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 5))
    x = rng.standard_normal(5)
    c = rng.standard_normal(3)
    v = rng.standard_normal(5)
    y = np.tanh(A @ x)
    J = (1 - y**2)[:, None] * A  # d tanh(A x) / dx, 3 x 5
    return types.SimpleNamespace(
        A=A, x=x, c=c, v=v, y=y, J=J,
        f=lambda x: jnp.tanh(A @ x),
        loss=lambda x: jnp.sum(c * jnp.tanh(A @ x)),  # scalar: its gradient is J^T c
    )


def test_check_gradient(problem):
    p = problem
    grad = p.J.T @ p.c
    assert check_gradient(grad, p.loss, p.x).ok
    assert check_gradient(grad.astype(np.float32), p.loss, p.x).ok
    with pytest.raises(CheckFailed, match=SIGN):
        check_gradient(-grad, p.loss, p.x)
    with pytest.raises(CheckFailed, match="the gradient is wrong"):
        check_gradient(p.A.T @ p.c, p.loss, p.x)  # forgot tanh' = 1 - tanh^2
    with pytest.raises(CheckFailed, match=r"shape \(3,\).*the shape of w"):
        check_gradient(p.J @ grad, p.loss, p.x)
    with pytest.raises(CheckFailed, match="you forgot tanh'"):
        check_gradient(p.A.T @ p.c, p.loss, p.x, hints={"you forgot tanh'": lambda e: p.A.T @ p.c})


def test_check_value(problem):
    p = problem
    assert check_value(p.y, p.f, p.x).ok
    assert check_value(p.y.astype(np.float32), p.f, p.x).ok
    assert check_value(float(p.c @ p.y), p.loss, p.x).ok
    with pytest.raises(CheckFailed, match="the value is wrong"):
        check_value(np.tanh(p.A @ p.x + 1e-3), p.f, p.x)
    with pytest.raises(CheckFailed):
        check_value(float(p.c @ p.y) + 1e-3, p.loss, p.x)


def test_check_jvp(problem):
    p = problem
    assert check_jvp((p.y, p.J @ p.v), p.f, p.x, p.v).ok
    assert check_jvp([p.y.astype(np.float32), (p.J @ p.v).astype(np.float32)], p.f, p.x, p.v).ok
    with pytest.raises(CheckFailed, match="the tangent J v is wrong"):
        check_jvp((p.y, p.A @ p.v), p.f, p.x, p.v)
    with pytest.raises(CheckFailed, match=SIGN):
        check_jvp((p.y, -(p.J @ p.v)), p.f, p.x, p.v)
    with pytest.raises(CheckFailed, match=r"the value f\(w\) is wrong"):
        check_jvp((p.A @ p.x, p.J @ p.v), p.f, p.x, p.v)
    with pytest.raises(CheckFailed, match="one entry per output of f"):
        check_jvp((p.y, p.J.T @ p.c), p.f, p.x, p.v)
    with pytest.raises(CheckFailed, match=r"pair \(f\(w\), J v\)"):
        check_jvp(p.J @ p.v, p.f, p.x, p.v)


def test_check_jacobian(problem):
    p = problem
    assert check_jacobian(p.J, p.f, p.x).ok
    assert check_jacobian(p.J.astype(np.float32), p.f, p.x).ok
    with pytest.raises(CheckFailed, match="It looks transposed") as info:
        check_jacobian(p.J.T, p.f, p.x)
    assert "row i is the gradient of output i" in str(info.value)
    with pytest.raises(CheckFailed, match="the Jacobian is wrong"):
        check_jacobian(p.A, p.f, p.x)
    with pytest.raises(CheckFailed, match=TWICE):
        check_jacobian(2 * p.J, p.f, p.x)


def test_check_jacobian_diagnoses_a_transposed_square_jacobian():
    rng = np.random.default_rng(6)
    B, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
    J = (1 - np.tanh(B @ x) ** 2)[:, None] * B
    assert check_jacobian(J, lambda x: jnp.tanh(B @ x), x).ok
    with pytest.raises(CheckFailed, match=TRANSPOSE):
        check_jacobian(J.T, lambda x: jnp.tanh(B @ x), x)


def test_check_vjp_passes_correct_pullbacks(problem):
    p = problem

    def vjp(u):
        return (p.J.T @ u,)

    assert check_vjp(vjp, p.f, p.x).ok
    assert check_vjp(lambda u: p.J.T @ u, p.f, p.x).ok  # one input: a bare array is fine
    assert check_vjp(lambda u: [(p.J.T @ u).astype(np.float32)], p.f, p.x).ok


def test_check_vjp_fails_wrong_pullbacks(problem):
    p = problem
    with pytest.raises(CheckFailed, match=SIGN):
        check_vjp(lambda u: (-(p.J.T @ u),), p.f, p.x)
    with pytest.raises(CheckFailed, match="the VJP u\\^T J\\[0\\] is wrong"):
        check_vjp(lambda u: (p.A.T @ u,), p.f, p.x)  # forgot tanh'
    with pytest.raises(CheckFailed, match="one cotangent per input"):
        check_vjp(lambda u: (p.J @ np.ones(5),), p.f, p.x)
    with pytest.raises(CheckFailed, match="tuple of 1 items"):
        check_vjp(lambda u: (p.J.T @ u, p.J.T @ u), p.f, p.x)


def test_check_vjp_catches_a_pullback_that_is_right_only_for_a_cotangent_of_ones():
    rng = np.random.default_rng(7)
    c, x = rng.standard_normal(6), rng.standard_normal(6)

    def f(x):
        return x * c  # J = diag(c): J^T u = c * u

    def summing_vjp(u):  # sums the cotangent instead of using it entry by entry
        return (np.mean(u) * c,)

    ones = np.ones(6)
    assert np.allclose(summing_vjp(ones)[0], c * ones)  # indistinguishable with u = 1 ...
    assert compare(summing_vjp(ones), (c * ones,)).ok
    with pytest.raises(CheckFailed, match="is wrong"):  # ... but not with check_vjp's random u
        check_vjp(summing_vjp, f, x)
    assert check_vjp(lambda u: (c * u,), f, x).ok


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_vjp_catches_a_transposed_square_jacobian(seed):
    rng = np.random.default_rng(8)
    B, x = rng.standard_normal((4, 4)), rng.standard_normal(4)
    assert check_vjp(lambda u: (B.T @ u,), lambda x: B @ x, x, seed=seed).ok
    with pytest.raises(CheckFailed):
        check_vjp(lambda u: (B @ u,), lambda x: B @ x, x, seed=seed)


def test_check_vjp_with_two_inputs(problem):
    p = problem

    def f(W, x):
        return jnp.tanh(W @ x)

    def vjp(u):
        s = (1 - p.y**2) * u
        return np.outer(s, p.x), p.A.T @ s

    assert check_vjp(vjp, f, p.A, p.x).ok
    with pytest.raises(CheckFailed, match=r"\[1\] is wrong"):
        check_vjp(lambda u: (vjp(u)[0], -vjp(u)[1]), f, p.A, p.x)
    with pytest.raises(CheckFailed, match=r"\[0\] has shape \(5,\)"):
        check_vjp(lambda u: vjp(u)[::-1], f, p.A, p.x)


def test_check_vjp_with_a_dict_of_parameters(problem):
    p = problem

    def f(params):
        return jnp.tanh(params["W"] @ params["x"])

    def vjp(u):
        s = (1 - p.y**2) * u
        return ({"x": p.A.T @ s, "W": np.outer(s, p.x)},)

    params = {"W": p.A, "x": p.x}
    assert check_vjp(vjp, f, params).ok
    with pytest.raises(CheckFailed, match=r"\['W'\] is wrong"):
        check_vjp(lambda u: ({"x": vjp(u)[0]["x"], "W": 2 * vjp(u)[0]["W"]},), f, params)


def test_check_vjp_holds_float32_answers_to_the_float32_tolerance_in_both_of_its_tests(problem):
    """A correct float32 VJP (here: TF32-sized errors) passes the entry-wise test *and* the dot-product test."""
    p = problem
    rng = np.random.default_rng(9)
    noise = 1 + 5e-4 * rng.choice([-1.0, 1.0], size=5)

    def float32_vjp(u):
        return ((p.J.T @ u * noise).astype(np.float32),)

    assert check_vjp(float32_vjp, p.f, p.x).ok
    with pytest.raises(CheckFailed):  # the same numbers in float64 are held to EXACT_RTOL
        check_vjp(lambda u: (p.J.T @ u * noise,), p.f, p.x)
    with pytest.raises(CheckFailed, match=SIGN):
        check_vjp(lambda u: (-float32_vjp(u)[0],), p.f, p.x)


@settings(PROPERTY, max_examples=10)
@given(seed=seeds)
def test_checks_against_jax_on_random_problems(seed):
    rng = np.random.default_rng(seed)
    A, x, v = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal(5)
    y = np.tanh(A @ x)
    J = (1 - y**2)[:, None] * A
    f = lambda x: jnp.tanh(A @ x)  # noqa: E731
    check_jacobian(J, f, x)
    check_jvp((y, J @ v), f, x, v)
    check_vjp(lambda u: (J.T @ u,), f, x, seed=seed % 1000)
    with pytest.raises(CheckFailed):
        check_jacobian(A, f, x)



def test_check_calls():
    f = Counted(lambda w: w)
    for _ in range(3):
        f(1.0)
    check_calls(f, 3, what="forward_difference")
    with pytest.raises(CheckFailed, match="forward_difference called f 3 times; it should call it exactly 4 times"
                                          r" \(d \+ 1 for d = 3\)"):
        check_calls(f, 4, what="forward_difference", why="d + 1 for d = 3")


# ---------------------------------------------------------------------------
# course.counting


def test_counted_counts_calls_and_returns_the_values():
    def square(w):
        """The square."""
        return w * w

    f = Counted(square)
    assert f.calls == 0
    assert f(3.0) == 9.0
    assert f(np.arange(3.0)).tolist() == [0.0, 1.0, 4.0]
    assert f(w=2.0) == 4.0
    assert f.calls == 3
    assert f.name == "square" and f.__doc__ == "The square."
    f.reset()
    assert f.calls == 0
    assert Counted(square, name="f").name == "f"


@pytest.mark.parametrize("transform", [
    lambda f, x: jax.grad(f)(x),
    lambda f, x: jax.jvp(f, (x,), (x,)),
    lambda f, x: jax.vjp(f, x),
    lambda f, x: jax.jacrev(f)(x),
])
def test_counted_refuses_to_be_differentiated(transform):
    f = Counted(lambda w: jnp.sum(w**2), name="loss")
    with pytest.raises(ForbiddenDifferentiation) as info:
        transform(f, jnp.ones(3))
    message = str(info.value)
    assert "loss was called with a JAX tracer" in message
    assert "jax.grad" in message and "yourself" in message
    assert isinstance(info.value, TypeError)
    assert f.calls == 0
    assert f(np.ones(3)) == 3.0  # plain calls still work


@pytest.mark.parametrize("call", [
    lambda f, x: f((x, x)),
    lambda f, x: f({"w": x}),
    lambda f, x: f(w=x),
])
def test_counted_finds_tracers_inside_tuples_dicts_and_keywords(call):
    def loss(*args, **kwargs):
        return jnp.sum(jnp.asarray(jax.tree_util.tree_leaves((args, kwargs))[0]) ** 2)

    f = Counted(loss, name="loss")
    assert call(f, np.ones(2)) == 2.0
    with pytest.raises(ForbiddenDifferentiation):
        jax.grad(lambda x: call(f, x))(jnp.ones(2))


def test_counted_allows_ad_when_asked():
    f = Counted(lambda w: jnp.sum(w**2), forbid_ad=False)
    assert np.allclose(jax.grad(f)(jnp.arange(3.0)), [0.0, 2.0, 4.0])
    assert f.calls == 1  # traced once


def test_count_calls_counts_and_restores_a_module_function():
    module = types.ModuleType("fake_linalg")
    module.solve = lambda A, b: np.linalg.solve(A, b)
    original = module.solve

    def student_code(A, b):
        return module.solve(A, b) + module.solve(A, 2 * b)

    with count_calls(module, "solve") as counted:
        student_code(np.eye(2), np.ones(2))
        assert counted.calls == 2
        assert module.solve is counted
    assert module.solve is original
    assert counted.calls == 2


def test_count_calls_on_a_real_module_restores_even_after_an_error():
    original = np.linalg.solve
    with pytest.raises(ZeroDivisionError):
        with count_calls(np.linalg, "solve") as counted:
            np.linalg.solve(np.eye(2), np.ones(2))
            1 / 0
    assert counted.calls == 1
    assert np.linalg.solve is original
    assert "solve" in vars(np.linalg)


def test_count_calls_on_methods():
    class Base:
        def method(self, a):
            return a + 1

        @staticmethod
        def static(a):
            return 2 * a

        @classmethod
        def klass(cls, a):
            return (cls, a)

    class Child(Base):
        pass

    obj = Child()
    with count_calls(Base, "method") as counted:
        assert obj.method(1) == 2  # still bound to the instance
        assert counted.calls == 1
    with count_calls(Base, "static") as counted:
        assert obj.static(1) == 2 and Base.static(2) == 4
        assert counted.calls == 2
    with count_calls(Child, "klass") as counted:
        assert obj.klass(1) == (Child, 1)
        assert counted.calls == 1
    with count_calls(obj, "method") as counted:  # one instance only
        assert obj.method(1) == 2 and Child().method(1) == 2
        assert counted.calls == 1
    # everything as it was
    assert obj.method(1) == 2 and obj.static(1) == 2 and obj.klass(1) == (Child, 1)
    assert "klass" not in vars(Child) and "method" not in vars(obj)
    assert isinstance(vars(Base)["static"], staticmethod)
