"""Strip the outputs of notebooks before committing them (or check that they are stripped).

    python scripts/strip_notebooks.py            # strips colab/*.ipynb in place
    python scripts/strip_notebooks.py --check    # lists what is not stripped, exit 1 if anything

A stripped notebook has, in every code cell, no outputs and no execution count, and no run-time
metadata (execution times, collapsed/scrolled state, widget state). The file is written as
nbformat writes it (JSON, indent 1, sorted keys, final newline), so stripping is idempotent.
"""

import argparse
import glob
import json
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELL_RUNTIME_KEYS = ("execution", "ExecuteTime", "collapsed", "scrolled", "outputId", "executionInfo")
NOTEBOOK_RUNTIME_KEYS = ("widgets",)


def problems(notebook):
    """What is not stripped in a notebook (a dict loaded from its JSON): a list of strings."""
    found = []
    for i, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i}: {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i}: execution_count {cell['execution_count']}")
        for key in CELL_RUNTIME_KEYS:
            if key in cell.get("metadata", {}):
                found.append(f"cell {i}: metadata.{key}")
    for key in NOTEBOOK_RUNTIME_KEYS:
        if key in notebook.get("metadata", {}):
            found.append(f"metadata.{key}")
    return found


def strip(notebook):
    """The notebook (a dict) stripped in place; returns it."""
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in CELL_RUNTIME_KEYS:
            cell.get("metadata", {}).pop(key, None)
    for key in NOTEBOOK_RUNTIME_KEYS:
        notebook.get("metadata", {}).pop(key, None)
    return notebook


def dumps(notebook):
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="notebooks (default: colab/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if a notebook is not stripped")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(glob.glob(os.path.join(REPO_ROOT, "colab", "*.ipynb")))
    dirty = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            notebook = json.load(f)
        found = problems(notebook)
        if args.check:
            for problem in found:
                print(f"{path}: {problem}")
            dirty += bool(found)
            continue
        text = dumps(strip(notebook))
        with open(path, encoding="utf-8") as f:
            changed = f.read() != text
        if changed:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"stripped {path}")
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
