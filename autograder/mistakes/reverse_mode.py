"""Common wrong answers to assignment 03_reverse_mode."""

from autograder.mistakes import Mistake

MISTAKES: list[Mistake] = []
