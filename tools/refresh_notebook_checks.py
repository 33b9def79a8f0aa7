"""Execute every chapter (replay mode) and store the outputs of its ``# NBVAL_CHECK_OUTPUT`` cells.

Those stored outputs are what ``pytest --nbval-lax`` compares a fresh execution against; every
other cell is committed without outputs (the book build executes the notebooks itself). Run after
changing a checked cell:  python tools/refresh_notebook_checks.py
"""
from pathlib import Path

import nbformat
import papermill as pm

BOOK = Path(__file__).resolve().parent.parent / "book"
MARK = "# NBVAL_CHECK_OUTPUT"


def main():
    for path in sorted(BOOK.glob("*.ipynb")):
        executed = pm.execute_notebook(str(path), None, cwd=str(BOOK), progress_bar=False,
                                       log_output=False)
        source = nbformat.read(path, 4)
        for cell, done in zip(source.cells, executed.cells):
            if cell.cell_type != "code":
                continue
            checked = cell.source.lstrip().startswith(MARK)
            cell.outputs = [o for o in done.outputs if o.get("output_type") != "display_data"] \
                if checked else []
            cell.execution_count = (done.execution_count or 1) if checked else None
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
        source.metadata.pop("papermill", None)
        nbformat.write(source, path)
        print(f"{path.name}: {sum(c.source.lstrip().startswith(MARK) for c in source.cells)} "
              "checked cell(s) refreshed")


if __name__ == "__main__":
    main()
