"""The two ways to install the course agree, and what students install holds no answers."""

import re
import subprocess
import sys
import tomllib
import zipfile

import pytest
import yaml

from conftest import ROOT


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = _pyproject()["project"]
    from_pyproject = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        from_pyproject |= set(extra)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {_normalise(r) for r in pip_section} == {_normalise(r) for r in from_pyproject}
    assert "python=3.11" in env["dependencies"]


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "python3 dev.py demo" in readme and "python3 dev.py test" in readme
    assert "python3 dev.py test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_the_wheel_students_install_holds_no_solutions_or_hidden_tests(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("course-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "course/checks.py" in names
    assert not [n for n in names if n.startswith(("autograder/", "source/", "tests/"))]
    text = b"".join(zipfile.ZipFile(wheel).read(n) for n in names if n.endswith(".py"))
    assert b"BEGIN SOLUTION" not in text and b"run_hidden_tests" not in text
