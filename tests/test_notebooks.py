"""Policy for notebooks in git: stripped of outputs, python3 kernel, a `parameters` cell with typed
PROFILE and SEED literals (papermill would silently ignore a misspelt parameter), story first."""

import ast
from pathlib import Path

import nbformat
import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no numbered notebooks found"


# the file-name prefix of the result CSVs each notebook writes
RESULT_PREFIX = {"00_tour": "tour_", "01_twin_machine_unlearning": "tmu_", "02_unlearning_features_and_labels": "02_",
                 "03_distribution_level_feature_distancing": "dlfd_table1", "04_benchmark": "benchmark_",
                 "05_dlfd_ablation": "dlfd_ablation", "06_forgetting_like_retraining": "forgetting_"}

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_policy(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown", "a notebook opens with what it will show"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "notebooks are committed without outputs"
    params = pm.inspect_notebook(str(path))
    assert {"PROFILE", "SEED"} <= set(params)
    assert ast.literal_eval(params["PROFILE"]["default"]) == "cpu", "the default profile is cpu"
    assert type(ast.literal_eval(params["SEED"]["default"])) is int
    for p in params.values():  # only typed literals: derived values would not be recomputed by papermill
        ast.literal_eval(p["default"])
    assert all(p["help"] for p in params.values()), "every parameter carries a comment"
    # key results are written as CSVs, which the smoke check compares with the references within tolerances
    prefix = RESULT_PREFIX[path.stem]
    refs = sorted((path.parents[1] / "tests" / "smoke_reference" / "results").glob(prefix + "*.csv"))
    assert refs, f"{path.name}'s results ({prefix}*.csv) have no smoke reference: run `make refresh-smoke`"
    checked = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    for c in checked:  # nbval's exact comparison is for output no CPU changes: no wall times in them
        assert "seconds" not in c.source and "perf_counter" not in c.source
