"""Writes every lab as a Jupyter notebook, with jupytext: `python labs/make_notebooks.py`.

Each lab script is cut into cells at its `# ## Section` comments (the module docstring
and the comment blocks become markdown cells, the code between them code cells). The
body of `main` is unfolded into the notebook, so each of its sections is a cell of its
own; the notebook runs the lab at the size chosen in its first code cell (`--quick`
by default, so that it runs in seconds; empty the list for the full setting), and shows
every figure the lab writes right under the cell that wrote it.

    python labs/make_notebooks.py                 # all labs into labs/notebooks/
    python labs/make_notebooks.py --out DIR lab03_bptt.py   # one lab, elsewhere
    jupyter lab labs/notebooks/lab03_bptt.ipynb   # or open it in Colab / VS Code

The notebooks are generated, not committed: the scripts are the source of truth.
"""

from __future__ import annotations

import argparse
import ast
import pathlib
import textwrap

import jupytext

LABS_DIR = pathlib.Path(__file__).resolve().parent
SHOW_FIGURES = '''\
def show_new_figures(folder, _shown=set()):
    """Displays the PNG files in `folder` that no earlier cell has shown."""
    from IPython.display import Image, display

    for path in sorted(pathlib.Path(folder).glob("*.png")):
        if path not in _shown:
            _shown.add(path)
            display(Image(filename=str(path)))'''


def _comment_block_to_markdown(lines: list[str]) -> str:
    """`# ## Title` / `# text` comment lines -> markdown text."""
    text = []
    for line in lines:
        stripped = line.strip()
        text.append(stripped[2:] if stripped.startswith("# ") else stripped.lstrip("#"))
    return "\n".join(text).strip()


def _split_sections(lines: list[str]) -> list[tuple[str, str]]:
    """Cuts code lines at `# ## ` headings into ("markdown"|"code", text) cells."""
    cells, code, index = [], [], 0
    while index < len(lines):
        if lines[index].strip().startswith("# ## "):
            if "\n".join(code).strip():
                cells.append(("code", "\n".join(code).strip("\n")))
            code, comment = [], []
            while index < len(lines) and lines[index].strip().startswith("#"):
                comment.append(lines[index])
                index += 1
            cells.append(("markdown", _comment_block_to_markdown(comment)))
            continue
        code.append(lines[index])
        index += 1
    if "\n".join(code).strip():
        cells.append(("code", "\n".join(code).strip("\n")))
    return cells


def lab_cells(source: str, argv: list[str]) -> list[tuple[str, str]]:
    """The notebook cells of a lab script, run with the command-line arguments `argv`."""
    tree = ast.parse(source)
    lines = source.split("\n")
    docstring = ast.get_docstring(tree)
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    guard = next((node for node in tree.body if isinstance(node, ast.If)), None)
    body_start = tree.body[0].end_lineno if docstring else 0
    before_main = lines[body_start : main.lineno - 1 - len(main.decorator_list)]
    after_main = lines[main.end_lineno : (guard.lineno - 1) if guard else len(lines)]
    main_lines = textwrap.dedent("\n".join(lines[main.body[0].lineno - 1 : main.end_lineno])).split("\n")
    main_code = []
    for line in main_lines:
        if line.startswith("args = parse_args(argv)"):
            line = "args = parse_args(ARGV)"
        if line.startswith("return summary"):
            continue
        main_code.append(line)
    cells = [("markdown", docstring)]
    setup = _split_sections(before_main)
    cells += setup
    arguments = f"# The lab's command-line arguments ([] for the full setting).\nARGV = {argv!r}\n\n"
    cells.append(("code", f"{arguments}import pathlib\n\n\n{SHOW_FIGURES}"))
    for kind, text in _split_sections(main_code):
        if kind == "code":
            text += "\nshow_new_figures(args.out)" if "args = parse_args" not in text else ""
        cells.append((kind, text))
    cells += [cell for cell in _split_sections(after_main) if cell[1].strip()]
    return cells


def to_percent_script(cells: list[tuple[str, str]]) -> str:
    """The cells in jupytext's percent format."""
    parts = []
    for kind, text in cells:
        if kind == "markdown":
            parts.append("# %% [markdown]\n" + "\n".join(f"# {line}".rstrip() for line in text.split("\n")))
        else:
            parts.append("# %%\n" + text)
    return "\n\n".join(parts) + "\n"


def make_notebook(lab: pathlib.Path, out_dir: pathlib.Path, argv: list[str]) -> pathlib.Path:
    """Writes `out_dir/<lab>.ipynb` for the lab script `lab`; returns its path."""
    notebook = jupytext.reads(to_percent_script(lab_cells(lab.read_text(encoding="utf-8"), argv)), fmt="py:percent")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{lab.stem}.ipynb"
    jupytext.write(notebook, path)
    return path


def main(argv=None) -> list[pathlib.Path]:
    parser = argparse.ArgumentParser(description="Write the labs as Jupyter notebooks (jupytext).")
    parser.add_argument("labs", nargs="*", help="lab files (default: every labs/lab0*.py)")
    parser.add_argument("--out", default=str(LABS_DIR / "notebooks"), help="folder for the .ipynb files")
    parser.add_argument("--full", action="store_true", help="notebooks that run the full setting")
    args = parser.parse_args(argv)
    labs = [LABS_DIR / pathlib.Path(name).name for name in args.labs] or sorted(LABS_DIR.glob("lab0*.py"))
    lab_argv = [] if args.full else ["--quick"]
    paths = []
    for lab in labs:
        if not lab.is_file():
            parser.error(f"argument labs: no lab file {str(lab)!r}")
        paths.append(make_notebook(lab, pathlib.Path(args.out), lab_argv))
        print(f"wrote {paths[-1]}")
    return paths


if __name__ == "__main__":
    main()
