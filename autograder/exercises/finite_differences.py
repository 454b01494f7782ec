"""Hidden tests of assignment 01_finite_differences."""

from __future__ import annotations

import numpy as np

from autograder.exercises.base import Exercise, Served, swapped
from autograder.exercises.base import oracle
from course.checks import Comparison, compare
from course.problems import SmoothProblem, lecture_loss, random_point, wiggly, wiggly_gradient

FORWARD_EPS, CENTRAL_EPS, COMPLEX_H = 1e-7, 1e-5, 1e-20


def _problems(rng):
    """Three random problems: small, medium with a large scale, larger with a small scale."""
    return [SmoothProblem(rng, d, scale) for d, scale in [(3, 1.0), (6, 40.0), (9, 0.05)]]


class _GradientEstimate(Exercise):
    """Shared by the three estimators: same cases and probe, their own tolerance, cost and hints."""

    step: float
    rtol: float
    why_rtol: str
    expected_calls: staticmethod
    cost_text: str
    hints: dict

    def cases(self, rng):
        # f is served by the grader: the student's code calls it, the grader evaluates and counts.
        return [{"f": Served(p, "f"), "w": random_point(rng, p.d), "step": self.step} for p in _problems(rng)]

    def probe(self, namespace, case):
        w = case["w"].copy()
        estimate = self.student(namespace)(case["f"], w, case["step"])
        return {"gradient": estimate, "w_after": w}

    def judge(self, case, observed):
        if not np.array_equal(np.asarray(observed["w_after"]), case["w"]):
            return Comparison(False, f"`{self.name}` changed its argument w in place; "
                              "perturb a copy (w + step) so the caller's w stays as it was.")
        comparison = compare(observed["gradient"], oracle.gradient(case["f"].fn, case["w"]), rtol=self.rtol,
                             name="the gradient estimate", meaning="one partial derivative per entry of w",
                             hints=self.hints)
        if not comparison.ok:
            comparison.message += f"\n  (why this tolerance: {self.why_rtol})"
            return comparison
        d = len(case["w"])
        calls = observed["served_calls"]["f"]
        if calls != self.expected_calls(d):
            return Comparison(False, f"`{self.name}` called f {calls} times for d = {d}; "
                              f"it should call it exactly {self.expected_calls(d)} times ({self.cost_text}).",
                              diagnosis="wrong number of function calls")
        return comparison


class ForwardDifference(_GradientEstimate):
    name = "forward_difference"
    step, rtol = FORWARD_EPS, 1e-4
    why_rtol = "a forward difference with eps = 1e-7 is accurate to about 1e-7 relative; 1e-4 leaves margin"
    expected_calls = staticmethod(lambda d: d + 1)
    cost_text = "f(w) once, shared by all coordinates, plus one call per coordinate"
    hints = {"you did not divide the difference by eps": FORWARD_EPS,
             "the difference is taken the wrong way round, f(w) - f(w + eps e_k)": -1.0}


class CentralDifference(_GradientEstimate):
    name = "central_difference"
    step, rtol = CENTRAL_EPS, 1e-7
    why_rtol = "a central difference with eps = 1e-5 is accurate to about 1e-10 relative; 1e-7 leaves margin"
    expected_calls = staticmethod(lambda d: 2 * d)
    cost_text = "two calls per coordinate: f(w + eps e_k) and f(w - eps e_k)"
    hints = {"you divided by eps instead of 2 eps": 2.0,
             "you divided by 2 but not by eps": 1 / CENTRAL_EPS}


class ComplexStep(_GradientEstimate):
    name = "complex_step"
    step, rtol = COMPLEX_H, 1e-10
    why_rtol = "the complex step has no cancellation: it is accurate to about 1e-16 relative"
    expected_calls = staticmethod(lambda d: d)
    cost_text = "one complex evaluation per coordinate"
    hints = {"you did not divide the imaginary part by h": COMPLEX_H}


class LectureGradient(Exercise):
    name = "lecture_gradient"

    def cases(self, rng):
        return [{"w": np.array([rng.uniform(1.2, 5.0), rng.uniform(0.3, 4.0)])} for _ in range(4)]

    def probe(self, namespace, case):
        return {"gradient": self.student(namespace)(case["w"].copy())}

    def judge(self, case, observed):
        w1, w2 = case["w"]
        direct_route_only = np.array([w2 / w1, np.log(w1)])  # dL/dv2 taken as 1
        return compare(observed["gradient"], oracle.gradient(lecture_loss, case["w"]),
                       name="your gradient of L", meaning="(dL/dw1, dL/dw2)",
                       hints={"dL/dw1 and dL/dw2 are swapped": lambda e: e[::-1],
                              "v2 reaches L twice, directly and through v3 = sqrt(v2); you left out "
                              "the route through v3": lambda e: direct_route_only})


def _expected_errors(f, w, steps, method):
    from autograder.reference.finite_differences import step_size_errors
    return step_size_errors(f, lambda x: oracle.gradient(f, x), w, steps, method)


ERROR_FLOOR = 1e-15  # below this a relative error is round-off noise around zero
ESTIMATORS = {"forward": "forward_difference", "central": "central_difference", "complex": "complex_step"}
ORDER = {"forward": 1, "central": 2, "complex": 3}


def _argument_problems(same_function: bool, w, h, case) -> list[str]:
    """What is wrong with the arguments of one call estimator(f, w, h) made by ``step_size_errors``."""
    problems = [] if same_function else ["a function other than f"]
    point = np.asarray(w)
    if point.shape != case["w"].shape or not np.array_equal(point, case["w"]):
        problems.append("a point other than w")
    if np.ndim(h) != 0 or not np.any(case["steps"] == h):
        problems.append("a step that is not one of `steps`")
    return problems


class StepSizeErrors(Exercise):
    """Graded on its own, independent of the student's estimators.

    While the probe runs, the student's three estimators are replaced by
    stand-ins that return the exact gradient plus a known error
    ``h**order * direction``; the relative errors the function must then
    report are known exactly.  A mistake in ``forward_difference`` thus
    costs points once, not twice.  (A solution that does not call the
    estimators by name is graded on the real errors instead, to within a
    decade.)
    """

    name = "step_size_errors"

    def cases(self, rng):
        problem = SmoothProblem(rng, 4, scale=30.0)
        return [{"f": Served(f, "f"), "grad_f": Served(grad_f, "grad_f"), "exact": Served(grad_f, "exact"),
                 "w": w, "steps": np.logspace(-8, -1, 8), "method": method,
                 "direction": rng.standard_normal(len(w))}
                for f, grad_f, w in [(wiggly, wiggly_gradient, np.array([1.5])),
                                     (problem, problem.gradient, random_point(rng, 4))]
                for method in ("forward", "central", "complex")]

    def probe(self, namespace, case):
        f, exact = case["f"], case["exact"]
        calls, wrong = [], []

        def stand_in(method):
            def estimate(f_, w_, h):
                calls.append(method)
                # Exact at w, plus a known error; NaN (and noted) unless asked about f itself, at the point w
                # itself, with one of the given steps: a stand-in that ignored its arguments would let a call
                # with the wrong point or step pass.
                problems = _argument_problems(f_ is f, w_, h, case)
                if problems:
                    wrong.extend(p for p in problems if p not in wrong)
                    return np.full(len(case["w"]), np.nan)
                return exact(np.asarray(w_, dtype=float)) + h ** ORDER[method] * case["direction"]
            estimate.__name__ = ESTIMATORS[method]
            return estimate

        stand_ins = {name: stand_in(method) for method, name in ESTIMATORS.items()}
        with swapped(namespace, stand_ins):
            errors = self.student(namespace)(f, case["grad_f"], case["w"].copy(), case["steps"].copy(),
                                             case["method"])
        if not calls:  # estimators written inline: fall back to the real errors
            errors = self.student(namespace)(f, case["grad_f"], case["w"].copy(), case["steps"].copy(),
                                             case["method"])
        return {"errors": errors, "stand_ins_called": sorted(set(calls)), "wrong_arguments": wrong}

    def judge(self, case, observed):
        method, steps, w, f = case["method"], case["steps"], case["w"], case["f"].fn
        norm = np.linalg.norm(case["grad_f"].fn(w))
        if observed["stand_ins_called"]:
            if observed.get("wrong_arguments"):
                return Comparison(False, f"for method={method!r} your function called the estimator with "
                                  f"{' and '.join(observed['wrong_arguments'])}: call it as estimator(f, w, h), "
                                  "once for each step h in `steps`", diagnosis="estimator called with wrong arguments")
            if observed["stand_ins_called"] != [method]:
                return Comparison(False, f"for method={method!r} your function called the estimator(s) of "
                                  f"{observed['stand_ins_called']}: pick the one that matches `method`")
            expected = steps ** ORDER[method] * np.linalg.norm(case["direction"]) / norm
            return compare(observed["errors"], expected, name=f"the {method} errors",
                           meaning="one relative error per step size",
                           hints={"you returned the absolute error; divide by the norm of the exact gradient":
                                  norm})
        # Inline estimators: real errors, compared in decades since round-off digits vary.
        expected = _expected_errors(f, w, steps, method)
        actual = np.asarray(observed["errors"], dtype=float)
        if actual.shape != expected.shape:
            return compare(actual, expected, name="the list of errors", meaning="one error per step size")

        def decades(e):
            return np.log10(np.maximum(np.abs(e), ERROR_FLOOR))
        return compare(decades(actual), decades(expected), rtol=0.0, atol=1.0,
                       name=f"log10 of the {method} errors", meaning="one error per step size",
                       hints={"you returned the absolute error; divide by the norm of the exact gradient":
                              lambda e: e + np.log10(norm)})


class BestSteps(Exercise):
    name = "best_steps"

    def cases(self, rng):
        return [{"method": m} for m in ("forward", "central", "complex")]

    def probe(self, namespace, case):
        return {"step": float(self.student(namespace)[case["method"]])}

    def judge(self, case, observed):
        h = observed["step"]
        method = case["method"]
        if not (np.isfinite(h) and h > 0):
            return Comparison(False, f"best_steps[{method!r}] = {h!r}: a step size must be a positive number")
        w = np.array([1.5])
        grid = np.logspace(-20, -1, 77)
        errors = _expected_errors(wiggly, w, grid, method)
        best = grid[np.argmin(errors)]
        (error_at_h,) = _expected_errors(wiggly, w, [h], method)
        # Within a decade of the optimum, or anywhere on a flat optimum (the complex step).
        if abs(np.log10(h) - np.log10(best)) <= 1 or error_at_h <= 2 * errors.min() + ERROR_FLOOR:
            return Comparison(True, f"{method}: h = {h:.0e} is a good step")
        return Comparison(False, f"best_steps[{method!r}] = {h:.1e} gives a relative error of {error_at_h:.1e}; "
                          "read the minimum off your plot: a step within a factor of 10 of the best one "
                          "is accepted.")


# Every exercise of this assignment is about computing derivatives *without* AD.
AD_FORBIDDEN = {"lecture_gradient", "forward_difference", "central_difference", "complex_step",
                "step_size_errors", "best_steps"}

EXERCISES = [LectureGradient(), ForwardDifference(), CentralDifference(), ComplexStep(),
             StepSizeErrors(), BestSteps()]
