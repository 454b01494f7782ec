"""Reference solutions for assignment 01_finite_differences.

Each function here is, token for token, the code of the matching solution
cell of ``source/01_finite_differences/finite_differences.ipynb``;
``tests/test_reference_sync.py`` fails if the two drift apart.
"""

import numpy as np


def lecture_gradient(w):
    w1, w2 = w
    v1 = np.log(w1)
    v2 = w2 * v1
    dL_dv2 = 1 + 1 / (2 * np.sqrt(v2))  # L = v2 + sqrt(v2)
    return np.array([dL_dv2 * w2 / w1, dL_dv2 * v1])


def forward_difference(f, w, eps):
    f0 = f(w)  # one evaluation shared by every coordinate
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w))
        step[k] = eps
        grad[k] = (f(w + step) - f0) / eps
    return grad


def central_difference(f, w, eps):
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w))
        step[k] = eps
        grad[k] = (f(w + step) - f(w - step)) / (2 * eps)
    return grad


def complex_step(f, w, h):
    grad = np.zeros(len(w))
    for k in range(len(w)):
        step = np.zeros(len(w), dtype=complex)
        step[k] = 1j * h
        grad[k] = f(w + step).imag / h
    return grad


def step_size_errors(f, grad_f, w, steps, method):
    estimator = {"forward": forward_difference, "central": central_difference,
                 "complex": complex_step}[method]
    exact = grad_f(w)
    return np.array([np.linalg.norm(estimator(f, w, h) - exact) / np.linalg.norm(exact)
                     for h in steps])


best_steps = {"forward": 1e-8, "central": 1e-5, "complex": 1e-20}
