"""Every lab has the same shape: header, sections in order, CLI, closing summary, exercises.

These checks read the scripts (and call their argument parsers); nothing is trained.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

LABS = sorted((pathlib.Path(__file__).resolve().parents[2] / "labs").glob("lab0*.py"))
SECTIONS = ["Introduction", "Setup", "Data", "Model", "Train", "Results", "Exercises"]


def test_there_are_eight_labs():
    assert [path.name[:5] for path in LABS] == [f"lab0{number}" for number in range(1, 9)]


@pytest.mark.parametrize("path", LABS, ids=lambda path: path.stem)
def test_lab_has_the_common_shape(path):
    source = path.read_text(encoding="utf-8")
    header = ast.get_docstring(ast.parse(source))
    for field in ("Title:", "Goal:", "Estimated run time", "quick", "full", "Outputs"):
        assert field in header, f"{path.name}: header lacks {field!r}"
    positions = [source.find(f"# ## {section}\n") for section in SECTIONS]
    assert -1 not in positions, f"{path.name}: missing one of {SECTIONS}"
    assert positions == sorted(positions), f"{path.name}: sections out of order"
    assert "What to look at" in source and "summary.json" in source
    assert "def main(argv=None) -> dict:" in source
    assert re.search(r"^import rnnkit$", source, re.MULTILINE)
    # rnnkit first: it must set up the quiet start-up before keras imports TensorFlow.
    assert re.search(r"^import keras$", source, re.MULTILINE)
    assert source.index("\nimport rnnkit\n") < source.index("\nimport keras\n")
    # Public API only: no imports from rnnkit's submodules.
    assert not re.search(r"^\s*(from|import) rnnkit\.", source, re.MULTILINE)


@pytest.mark.parametrize("path", LABS, ids=lambda path: path.stem)
def test_lab_command_line(path, load_lab):
    lab = load_lab(path.name)
    defaults = lab.parse_args([])
    assert defaults.quick is False
    assert defaults.out == f"labs_out/{path.name[:5]}"
    chosen = lab.parse_args(["--quick", "--out", "elsewhere"])
    assert chosen.quick is True and chosen.out == "elsewhere"


def test_exercises_cover_every_course_question():
    tagged = set()
    for path in LABS:
        exercises = path.read_text(encoding="utf-8").split("# ## Exercises", 1)[1]
        tagged.update(int(number) for number in re.findall(r"Course question (\d)", exercises))
    # COURSE.md lists four exercise questions to be answered by measurement.
    assert tagged == {1, 2, 3, 4}
