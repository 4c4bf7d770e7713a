"""What a student sees: exercises printed and listed, quiet output, and the notebooks."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
LABS = sorted((REPO / "labs").glob("lab0*.py"))


def printed_exercises(path: pathlib.Path) -> str:
    source = path.read_text(encoding="utf-8")
    block = source.split('print(textwrap.dedent("""\n', 1)[1].split('"""))', 1)[0]
    return textwrap.dedent(block).strip()


@pytest.mark.parametrize("path", LABS, ids=lambda path: path.stem)
def test_exercises_are_printed_and_listed_in_the_readme(path):
    exercises = printed_exercises(path)
    assert exercises.startswith("Exercises\n1. ")
    readme = " ".join((REPO / "labs" / "README.md").read_text(encoding="utf-8").split())
    for item in re.split(r"\n(?=\d\. )", exercises.split("\n", 1)[1]):
        assert " ".join(item.split()) in readme, f"{path.name}: {item[:40]!r} is not in labs/README.md"


def test_lab_and_cli_stderr_is_clean(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "RNNKIT_VERBOSE"}
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
    environment["PYTHONPATH"] = str(REPO)
    lab = subprocess.run([sys.executable, str(REPO / "labs" / "lab01_hidden_state.py"), "--quick",
                          "--out", str(tmp_path / "lab")], capture_output=True, text=True, env=environment, check=False)
    assert lab.returncode == 0, lab.stderr
    assert lab.stderr == ""
    assert "Exercises\n1. (Course question 1)" in lab.stdout
    cli = subprocess.run([sys.executable, "-m", "rnnkit", "train", "--task", "adding", "--units", "2",
                          "--epochs", "1", "--option", "timesteps=4", "--option", "num_samples=30",
                          "--out", str(tmp_path / "train")], capture_output=True, text=True, env=environment, check=False)
    assert cli.returncode == 0, cli.stderr
    assert cli.stderr == ""


def test_a_relu_simple_rnn_trains_without_grappler_errors(tmp_path):
    # TensorFlow's remapper pass used to fail on the ReLU inside the RNN loop and log errors
    # ("... Relu has an empty op name", "remapper failed") at every trace. rnnkit turns the
    # pass off, so they are gone at the source: not even --verbose shows them.
    environment = {key: value for key, value in os.environ.items() if key != "RNNKIT_VERBOSE"}
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
    environment["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "rnnkit", "train", "--task", "adding", "--cell", "simple_rnn",
               "--model", "activation=relu", "--units", "4", "--epochs", "2", "--option", "timesteps=6",
               "--option", "num_samples=60"]
    quiet = subprocess.run([*command, "--out", str(tmp_path / "quiet")], capture_output=True, text=True,
                           env=environment, check=False)
    assert quiet.returncode == 0, quiet.stderr
    assert "activation=relu" in quiet.stdout
    assert quiet.stderr == ""
    loud = subprocess.run([*command, "--verbose", "--out", str(tmp_path / "loud")], capture_output=True,
                          text=True, env=environment, check=False)
    assert loud.returncode == 0, loud.stderr
    for symptom in ("empty op name", "remapper failed", "tfg_optimizer"):
        assert symptom not in loud.stderr


def test_verbose_shows_tensorflows_start_up_lines(tmp_path):
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    code = "import rnnkit, keras; rnnkit.set_verbose(); keras.ops.ones(1)"
    quiet = subprocess.run([sys.executable, "-c", code.replace(" rnnkit.set_verbose();", "")],
                           capture_output=True, text=True, env=environment, check=False)
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False)
    assert quiet.returncode == loud.returncode == 0
    assert quiet.stderr == ""
    # What TensorFlow prints depends on the machine (CUDA or not); it always logs something
    # while loading its libraries, and --verbose must pass it on.
    assert loud.stderr.strip() != ""


def test_a_generated_notebook_runs_and_shows_figures(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("jupytext")
    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "labs" / "make_notebooks.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    (path,) = maker.main(["lab01_hidden_state.py", "--out", str(tmp_path)])
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    headings = [cell.source.split("\n")[0] for cell in notebook.cells if cell.cell_type == "markdown"]
    for section in ("## Introduction", "## Setup", "## Data", "## Model", "## Train", "## Results", "## Exercises"):
        assert section in headings
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env={**os.environ, "PYTHONPATH": str(REPO)})
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 2  # param_counts.png and state_vs_params.png
    stderr = "".join(output.get("text", "") for output in outputs if output.get("name") == "stderr")
    assert stderr == ""
    printed = "".join(output.get("text", "") for output in outputs if output.get("name") == "stdout")
    assert "Exercises" in printed and (tmp_path / "labs_out" / "lab01" / "summary.json").is_file()


def test_cli_verbose_shows_tensorflows_start_up_lines(tmp_path):
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
    loud = subprocess.run([sys.executable, "-m", "rnnkit", "train", "--task", "adding", "--units", "2",
                           "--epochs", "1", "--option", "timesteps=4", "--option", "num_samples=30",
                           "--verbose", "--out", str(tmp_path)], capture_output=True, text=True,
                          env=environment, check=False)
    assert loud.returncode == 0
    assert loud.stderr.strip() != ""
