"""What a reader sees without running anything stays true to the code: the smoke references nbval checks run the
notebooks' current code, the README's findings and the notebooks' runtime lines match the recorded results, the
teaching cells match tools/teaching_layer.py, and the book's layout links its pages."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402
import findings  # noqa: E402
import pipeline  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REFERENCES = ROOT / "tests" / "smoke_reference"


def _code(nb) -> list[str]:
    """Code cells as a notebook's author wrote them (papermill's injected-parameters cell left out)."""
    return [c.source for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_smoke_reference_runs_the_notebooks_current_code(path):
    ref = REFERENCES / path.name
    assert ref.exists(), f"no smoke reference for {path.name}: run `make refresh-smoke`"
    fresh, stored = nbformat.read(path, as_version=4), nbformat.read(ref, as_version=4)
    assert _code(stored) == _code(fresh), (
        f"{ref.relative_to(ROOT)} was executed from other code than {path.relative_to(ROOT)}: nbval would check "
        "stale cells. Run `make refresh-smoke` and review the changed outputs")
    injected = [c for c in stored.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'PROFILE = "smoke"' in injected[0].source
    assert "papermill" not in stored.metadata, "references are stored without volatile metadata"


def test_readme_findings_and_runtime_lines_are_current():
    rc = subprocess.call([sys.executable, str(ROOT / "tools" / "findings.py"), "--check"])
    assert rc == 0, "README.md or a notebook's runtime line is out of date: run `python tools/findings.py`"


def test_teaching_cells_are_current():
    rc = subprocess.call([sys.executable, str(ROOT / "tools" / "teaching_layer.py"), "--check"])
    assert rc == 0, "the teaching cells differ from tools/teaching_layer.py: run it"


def test_claims_table_is_written_from_the_record(tmp_path):
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    rows = [{"paper": "P", "claim": "a | b", "holds": True, "numbers": {"x": 0.123456, "n": 3}, "profile": "cpu"},
            {"paper": "P", "claim": "c", "holds": False, "numbers": {"y": 12345.6}, "profile": "cpu"}]
    (tmp_path / "results" / "cpu" / "claims.json").write_text(json.dumps(rows))
    text = findings.claims_table(tmp_path)
    assert "**1 of 2 claims hold at the cpu profile, 0 inconclusive.**" in text
    # a paper no experiment defines still gets its rows, every number shown
    assert "**P**" in text and "| a / b | x = 0.123, n = 3 |  | holds |  |" in text
    assert "| c | y = 12346 |  | **does not hold** |  |" in text
    assert findings.claims_table(tmp_path / "none").startswith("No claims recorded")


def test_runtime_text_from_the_timing_record():
    assert findings.runtime_text({"seconds": "45.2", "peak_rss_mb": "1024"}) == \
        "`cpu` 45 s from an empty cache (peak memory 1.0 GiB)"  # MiB / 1024
    assert findings.runtime_text({"seconds": "600", "peak_rss_mb": "2048"}).startswith("`cpu` 10 min")
    assert findings.runtime_text(None) is None
    assert findings.runtime_text({"seconds": "45.2", "peak_rss_mb": "1024", "cpu": "AMD EPYC, avx2, 2 cores",
                                  "probe_s": "0.69"}).endswith("(peak memory 1.0 GiB, AMD EPYC, avx2, 2 cores, speed probe 0.69 s)")


def test_runtime_table_says_which_machine_ran_each_notebook(tmp_path):
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / "notebook_times.csv").write_text(
        "notebook,profile,seconds,peak_rss_mb,jobs,cpu,probe_s\n"
        "01_a.ipynb,cpu,1200,2048,1,\"AMD EPYC, avx2, 2 cores\",0.69\n"
        "02_b.ipynb,cpu,60,1024,,,\n")  # a row from before the probe
    table = findings.runtime_table(tmp_path).splitlines()
    assert table[2] == "| `01_a.ipynb` | 20.0 min (**over**) | 15 min | 2.0 GiB | AMD EPYC, avx2, 2 cores (0.69 s) |"
    assert table[3] == "| `02_b.ipynb` | 1.0 min | 15 min | 1.0 GiB | not probed (an earlier machine) |"


def test_runtime_table_gives_the_kernels_cpu_time_and_the_stolen_share_where_measured(tmp_path):
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / "notebook_times.csv").write_text(
        "notebook,profile,seconds,peak_rss_mb,cpu_s,steal_pct,jobs,cpu,probe_s\n"
        "01_a.ipynb,cpu,600,2048,1150.5,0.4,1,\"Xeon, avx512, 2 cores\",0.5\n"
        "02_b.ipynb,cpu,60,1024,,,1,\"Xeon, avx512, 2 cores\",0.5\n")  # a row from before the runner read CPU time
    table = findings.runtime_table(tmp_path).splitlines()
    assert "kernel CPU time (host's time stolen)" in table[0]
    assert table[2] == "| `01_a.ipynb` | 10.0 min | 15 min | 2.0 GiB | 19.2 min (0.4 % stolen) | Xeon, avx512, 2 cores (0.5 s) |"
    assert table[3] == "| `02_b.ipynb` | 1.0 min | 15 min | 1.0 GiB | not measured (an earlier run) | Xeon, avx512, 2 cores (0.5 s) |"


def test_site_layout_turns_the_readme_into_the_index_and_links_notebook_pages(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 00\n[back](../README.md)")])
    nbformat.write(nb, executed / "00_tour.ipynb")
    names = build_site.layout(executed, tmp_path / "src")
    assert names == ["00_tour"]
    index = (tmp_path / "src" / "index.md").read_text()
    assert "](notebooks/00_tour.ipynb)" in index and "](executed/cpu/00_tour.ipynb)" not in index
    assert "notebooks/00_tour" in index.split("{toctree}")[1]
    assert "](../index.md)" in (tmp_path / "src" / "notebooks" / "00_tour.ipynb").read_text()
    assert (tmp_path / "src" / "conf.py").exists() and (tmp_path / "src" / "figures").is_dir()
    with pytest.raises(SystemExit, match="no executed notebooks"):
        build_site.layout(tmp_path / "empty", tmp_path / "src2")


@pytest.mark.parametrize("path", sorted(REFERENCES.glob("*.ipynb")), ids=lambda p: p.name)
def test_executed_notebooks_have_no_stray_outputs(path):
    """What a reader should not see: a bare True/False or a path echoed by a cell's last line, a warning, an error."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"cell {i} raised"
            text = out.get("text", "") if out.output_type == "stream" else str(out.get("data", {}).get("text/plain", ""))
            if out.output_type == "execute_result":
                assert text not in ("True", "False", "None") and "PosixPath" not in text, f"cell {i} echoes {text!r}"
            assert "Warning:" not in text, f"cell {i} prints a warning: {text[:200]}"
            assert str(ROOT) not in text, f"cell {i} prints an absolute path of this machine"


def test_no_stale_result_files():
    written_by_notebooks = {p.name for p in (ROOT / "tests" / "smoke_reference" / "results").glob("*.csv")}
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True, check=True)
    stale = []
    for name in (Path(line).name for line in tracked.stdout.split()):
        if name in written_by_notebooks:
            continue
        writer = pipeline.writer(name)  # tools/pipeline.py: the probes and commands that write result files
        stem = name.rsplit(".", 1)[0].replace("_whole_class", "").replace("_runs", "")
        if writer is None or stem not in (ROOT / writer).read_text():
            stale.append(name)
    assert not stale, f"result files no current code writes (delete them, or declare their writer in tools/pipeline.py): {stale}"
