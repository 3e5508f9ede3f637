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


def test_time_breakdown_names_the_cells_that_take_the_time_and_the_share_that_fits(tmp_path):
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / "notebook_times.csv").write_text(
        "notebook,profile,seconds,peak_rss_mb\n01_a.ipynb,cpu,1800,2048\n02_b.ipynb,cpu,600,1024\n03_c.ipynb,cpu,60,512\n")
    (tmp_path / "results" / "cpu" / "cell_times.csv").write_text(
        "notebook,cell,seconds,call\n01_a.ipynb,3,8,imports\n01_a.ipynb,5,1200,tmu.run_seeds\n01_a.ipynb,7,450,\n"
        "01_a.ipynb,9,89,tmu.figure\n02_b.ipynb,2,590,dlfd.run_splits\n")
    table = findings.time_breakdown(tmp_path).splitlines()
    # 1200 s and the unnamed cell's 450 s reach 5 % of 1,800 s, 89 s does not; 900 s of 1,800 s fit the budget
    assert table[2] == "| `01_a.ipynb` | 1,800 s | `tmu.run_seeds` 1,200 s (67%); `cell 7` 450 s (25%) | 50% |"
    assert table[3] == "| `02_b.ipynb` | 600 s | `dlfd.run_splits` 590 s (98%) | all of it |"
    assert table[-1] == "Cells not timed (run before the runner recorded cell times): `03_c.ipynb`."
    assert findings.time_breakdown(tmp_path / "elsewhere") == ""  # nothing timed: no table


def test_executed_copies_take_the_sources_prose_only_when_they_ran_its_code():
    new = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("corrected text"), nbformat.v4.new_code_cell("x = 1")])

    def executed(code: str):
        injected = nbformat.v4.new_code_cell('PROFILE = "cpu"', metadata={"tags": ["injected-parameters"]})
        cells = [nbformat.v4.new_markdown_cell("old text"), injected, nbformat.v4.new_code_cell(code)]
        cells[2].outputs = [nbformat.v4.new_output("stream", text="ran\n")]
        return nbformat.v4.new_notebook(cells=cells)

    same = executed("x = 1")
    findings._prose_from_source(same, new)
    assert same.cells[0].source == "corrected text" and same.cells[2].outputs[0]["text"] == "ran\n"
    other = executed("x = 2")  # ran other code: only a rerun may change its text
    findings._prose_from_source(other, new)
    assert other.cells[0].source == "old text"


def test_tmu_outcome_states_what_the_run_shows_from_its_result_files(tmp_path):
    cpu = tmp_path / "results" / "cpu"
    cpu.mkdir(parents=True)
    assert findings.tmu_outcome(tmp_path) is None  # no run yet: the block is left as it is

    def table1(oracle: float) -> None:
        (cpu / "tmu_table1.csv").write_text("method,delta\nTMU,0.12\nTMU (oracle),%s\nTMU (rate-only),0.25\n"
                                            "random label,0.06\nBad Teacher,0.25\nNegGrad,0.65\n" % oracle)

    table1(0.135)
    (cpu / "tmu_calibration.csv").write_text(",predicted_easy,true_easy\nTMU as run,0.59,0.65\n")
    (cpu / "tmu_table1_seeds.csv").write_text("method,seed,delta,mia_easy\n" + "".join(
        f"TMU,{k},{d},0.6\nretrain (gold),{k},0,0.66\n" for k, d in enumerate((0.085, 0.165, 0.12))))
    (cpu / "claims.json").write_text(json.dumps([{"paper": "TMU", "claim": "TMU agrees with the gold model ...",
        "numbers": {"agreement_tmu_minus_rate_only": 0.07, "lo": 0.002, "hi": 0.145, "samples": 600,
                    "discordant_samples": 139}}]))
    text = findings.tmu_outcome(tmp_path)
    # 600 samples over 3 seeds: 200 forget images a seed, so Delta 0.12 is 24 of them
    assert "TMU's mean $\\Delta$ is 0.120 (24 of 200 forget images a seed)" in text
    assert "even the oracle" in text and "is no closer (0.135)" in text  # the oracle at or above TMU: the step limits
    assert "random label is as close to the gold model as TMU or closer" in text
    assert "calls 59% of $D_f$ easy against a true 65%" in text and "decided by 139 of 600 samples" in text
    assert "the fine-tuning step, not the prediction, keeps" in text
    table1(0.05)  # an oracle 0.07 (14 images) closer: the predictor's share, and no claim that the step limits
    closer = findings.tmu_outcome(tmp_path)
    assert "the oracle is closer by 0.070" in closer and "the fine-tuning step, not the prediction" not in closer


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
