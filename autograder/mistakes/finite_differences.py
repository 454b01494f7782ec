"""Common wrong answers to assignment 01_finite_differences."""

from autograder.mistakes import Mistake

MISTAKES = [
    Mistake(
        "lecture_gradient_one_route",
        {"lecture_gradient": '''
def lecture_gradient(w):
    w1, w2 = w
    v1 = np.log(w1)
    v2 = w2 * v1
    dL_dv2 = 1  # forgot that v2 also reaches L through v3 = sqrt(v2)
    return np.array([dL_dv2 * w2 / w1, dL_dv2 * v1])
'''},
        loses=("test_lecture_gradient",),
        message="route through v3",
        description="chain rule: only the direct route from v2 to L",
    ),
    Mistake(
        "forward_2d_calls",
        {"forward_difference": '''
def forward_difference(f, w, eps):
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w))
        step[k] = eps
        grad[k] = (f(w + step) - f(w)) / eps  # f(w) evaluated again for every k
    return grad
'''},
        loses=("test_forward_difference",),
        message="should call it exactly",
        description="forward difference re-evaluating f(w) for every coordinate (2d calls)",
    ),
    Mistake(
        "forward_wrong_sign",
        {"forward_difference": '''
def forward_difference(f, w, eps):
    f0 = f(w)
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w))
        step[k] = eps
        grad[k] = (f0 - f(w + step)) / eps
    return grad
'''},
        loses=("test_forward_difference",),
        message="wrong way round",
        description="forward difference with the sign flipped",
    ),
    Mistake(
        "forward_eps_not_divided",
        {"forward_difference": '''
def forward_difference(f, w, eps):
    f0 = f(w)
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w))
        step[k] = eps
        grad[k] = f(w + step) - f0
    return grad
'''},
        loses=("test_forward_difference",),
        message="not divide the difference by eps",
        description="forward difference without dividing by eps",
    ),
    Mistake(
        "forward_mutates_w",
        {"forward_difference": '''
def forward_difference(f, w, eps):
    f0 = f(w)
    grad = np.zeros(len(w))
    for k in range(len(w)):
        w[k] += eps  # perturbs the caller's array and never puts it back
        grad[k] = (f(w) - f0) / eps
    return grad
'''},
        loses=("test_forward_difference",),
        message="in place",
        description="forward difference modifying w in place",
    ),
    Mistake(
        "forward_calls_jax_grad",
        {"forward_difference": '''
import jax

def forward_difference(f, w, eps):
    return np.asarray(jax.grad(f)(w))
'''},
        loses=("test_forward_difference",),
        message="JAX tracer",
        description="calls jax.grad instead of taking differences",
    ),
    Mistake(
        "central_wrong_denominator",
        {"central_difference": '''
def central_difference(f, w, eps):
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w))
        step[k] = eps
        grad[k] = (f(w + step) - f(w - step)) / eps
    return grad
'''},
        loses=("test_central_difference",),
        message="divided by eps instead of 2 eps",
        description="central difference divided by eps instead of 2 eps",
    ),
    Mistake(
        "complex_step_not_divided",
        {"complex_step": '''
def complex_step(f, w, h):
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w), dtype=complex)
        step[k] = 1j * h
        grad[k] = f(w + step).imag
    return grad
'''},
        loses=("test_complex_step",),
        message="did not divide the imaginary part by h",
        description="complex step without dividing by h",
    ),
    Mistake(
        "step_errors_absolute",
        {"step_size_errors": '''
def step_size_errors(f, grad_f, w, steps, method):
    estimator = {"forward": forward_difference, "central": central_difference,
                 "complex": complex_step}[method]
    exact = grad_f(w)
    return np.array([np.linalg.norm(estimator(f, w, h) - exact) for h in steps])
'''},
        loses=("test_step_size_errors",),
        message="absolute error",
        description="absolute instead of relative error",
    ),
    Mistake(
        "step_errors_arguments_swapped",
        {"step_size_errors": '''
def step_size_errors(f, grad_f, w, steps, method):
    estimator = {"forward": forward_difference, "central": central_difference,
                 "complex": complex_step}[method]
    exact = grad_f(w)
    return np.array([np.linalg.norm(estimator(f, h, w) - exact) / np.linalg.norm(exact)
                     for h in steps])  # the point and the step swapped
'''},
        loses=("test_step_size_errors",),
        message="a point other than w",
        description="the estimator called as estimator(f, h, w): point and step swapped",
    ),
    Mistake(
        "best_steps_too_small",
        {"best_steps": 'best_steps = {"forward": 1e-16, "central": 1e-5, "complex": 1e-20}'},
        loses=("test_best_steps",),
        message="within a factor of 10",
        description="forward-difference step where round-off dominates",
    ),
]
