"""tools/run_notebooks.py: times are kept as each notebook finishes, and a failure names the notebook
and the ones that never ran."""

import csv
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import run_notebooks  # noqa: E402


def _notebook(path: Path, body: str, params: str = 'PROFILE = "cpu"  # profile\nSEED = 0  # seed') -> Path:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_failure_keeps_earlier_times_and_names_what_did_not_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UNLEARN_RESULTS", str(tmp_path / "results"))
    good = _notebook(tmp_path / "01_good.ipynb", "print(PROFILE)")
    bad = _notebook(tmp_path / "02_bad.ipynb", "raise RuntimeError('boom')")
    never = _notebook(tmp_path / "03_never.ipynb", "print('unreachable')")
    out = tmp_path / "executed"  # outside the repository: an absolute path works
    rc = run_notebooks.main(["--profile", "smoke", "--out", str(out), str(good), str(bad), str(never)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "FAILED: 02_bad.ipynb" in err and "not run: 03_never.ipynb" in err
    rows = list(csv.DictReader(open(tmp_path / "results" / "smoke" / "notebook_times.csv")))
    assert [r["notebook"] for r in rows] == ["01_good.ipynb"]
    # which machine ran it and how fast it was (tools/machine_probe.py), so that two runs' times can be compared
    assert rows[0]["cpu"].endswith("cores") and float(rows[0]["probe_s"]) > 0 and rows[0]["jobs"] == "1"
    # what its kernel used: a kernel that starts Python and prints spends some CPU time, and no more than two cores'
    # worth of its wall time; the stolen share is a percentage (or empty where /proc/stat is missing)
    assert 0 < float(rows[0]["cpu_s"]) <= 2 * float(rows[0]["seconds"]) and float(rows[0]["peak_rss_mb"]) > 0
    assert rows[0]["steal_pct"] == "" or 0 <= float(rows[0]["steal_pct"]) <= 100
    assert (out / "01_good.ipynb").exists() and (out / "02_bad.ipynb").exists()
    # a parameter a notebook does not declare stops the run before any notebook executes
    noseed = _notebook(tmp_path / "04_noseed.ipynb", "x = 1", params='PROFILE = "cpu"  # profile')
    assert run_notebooks.main(["--profile", "smoke", "--seed", "1", "--out", str(out), str(good), str(noseed)]) == 2
    assert "04_noseed.ipynb: parameters cell lacks ['SEED']" in capsys.readouterr().err


def test_stolen_share_is_the_steal_ticks_over_all_ticks_between_two_readings(tmp_path, monkeypatch):
    import machine_probe

    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice (guest counts inside user, so it is not added)
    stat.write_text("cpu  100 0 20 870 0 0 0 10 50 0\ncpu0 50 0 10 435 0 0 0 5 25 0\n")
    real_path = machine_probe.Path
    monkeypatch.setattr(machine_probe, "Path", lambda p: stat if p == "/proc/stat" else real_path(p))
    before = machine_probe.host_ticks()
    assert before == (10, 1000)
    stat.write_text("cpu  250 0 30 1010 0 0 0 110 50 0\n")
    assert machine_probe.host_ticks() == (110, 1400)
    assert machine_probe.stolen_share(before, machine_probe.host_ticks()) == pytest.approx(100 / 400)
    assert machine_probe.stolen_share(before, before) is None  # no time passed: no share


@pytest.mark.slow
def test_keep_writes_copies_without_volatile_metadata(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_RESULTS", str(tmp_path / "results"))
    nb = _notebook(tmp_path / "01_keep.ipynb", "print(6 * 7)")
    assert run_notebooks.main(["--profile", "smoke", "--out", str(tmp_path / "out"), "--keep", str(tmp_path / "kept"), str(nb)]) == 0
    executed = nbformat.read(tmp_path / "out" / "01_keep.ipynb", as_version=4)
    kept = nbformat.read(tmp_path / "kept" / "01_keep.ipynb", as_version=4)
    assert "papermill" in executed.metadata and "papermill" not in kept.metadata
    assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in kept.cells)
    last = kept.cells[-1]
    assert last.outputs[0]["text"] == "42\n"  # the outputs stay
    assert last.execution_count == executed.cells[-1].execution_count
    # each code cell's time goes beside the notebook's (the parameters cell, papermill's injected one, the print)
    cells = list(csv.DictReader(open(tmp_path / "results" / "smoke" / "cell_times.csv")))
    assert [r["notebook"] for r in cells] == ["01_keep.ipynb"] * 3 and all(float(r["seconds"]) >= 0 for r in cells)


@pytest.mark.slow
def test_each_notebook_gets_its_own_empty_model_cache(tmp_path, monkeypatch):
    """--cache-per-notebook --fresh: a notebook sees only what it trains itself, so it runs alone (notebook 05 trains
    its own original instead of loading notebook 03's)."""
    monkeypatch.setenv("UNLEARN_RESULTS", str(tmp_path / "results"))
    body = ("import os, pathlib\nc = pathlib.Path(os.environ['UNLEARN_CACHE'])\n"
            "print(c.name, sorted(p.name for p in c.glob('*')) if c.exists() else [])\n"
            "c.mkdir(parents=True, exist_ok=True); (c / 'model.pt').write_text('x')")
    a, b = _notebook(tmp_path / "01_a.ipynb", body), _notebook(tmp_path / "02_b.ipynb", body)
    (tmp_path / "caches" / "02_b").mkdir(parents=True)
    (tmp_path / "caches" / "02_b" / "stale.pt").write_text("from an earlier run")
    args = ["--profile", "smoke", "--out", str(tmp_path / "out"), "--cache-per-notebook", str(tmp_path / "caches"), "--fresh"]
    assert run_notebooks.main([*args, str(a), str(b)]) == 0
    printed = [nbformat.read(tmp_path / "out" / f"{n}.ipynb", as_version=4).cells[-1].outputs[0]["text"] for n in ("01_a", "02_b")]
    assert printed == ["01_a []\n", "02_b []\n"]  # its own folder, empty: the stale entry was removed
    assert (tmp_path / "caches" / "01_a" / "model.pt").exists() and (tmp_path / "caches" / "02_b" / "model.pt").exists()


def test_cell_times_name_each_cells_call_into_the_notebooks_experiments(tmp_path):
    cells = [nbformat.v4.new_code_cell("from unlearn import paths\nfrom unlearn.experiments import dlfd, tmu\npaths.use_repository()"),
             nbformat.v4.new_markdown_cell("text has no time"),
             nbformat.v4.new_code_cell("settings = {}\nfor k, v in settings.items():\n    pass\nruns = tmu.run_seeds(P)"),
             nbformat.v4.new_code_cell("# dlfd.bootstrap(models) is commented out\nplt.show()"),
             nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_code_cell("y = 2")]  # not executed: no duration
    for cell, seconds in zip([c for c in cells if c.cell_type == "code"], (8.04, 1320.46, 2.5, 0.0)):
        cell.metadata["papermill"] = {"duration": seconds}
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "01_a.ipynb")
    rows = run_notebooks.cell_times(tmp_path / "01_a.ipynb")
    assert rows == [{"cell": 0, "seconds": 8.0, "call": "imports"}, {"cell": 2, "seconds": 1320.5, "call": "tmu.run_seeds"},
                    {"cell": 3, "seconds": 2.5, "call": "plt.show"}, {"cell": 4, "seconds": 0.0, "call": ""}]
    record = tmp_path / "cell_times.csv"
    run_notebooks.record_cell_times(record, "02_b.ipynb", [{"cell": 1, "seconds": 5.0, "call": "dlfd.run_splits"}])
    run_notebooks.record_cell_times(record, "01_a.ipynb", [{"cell": 9, "seconds": 1.0, "call": "old"}])
    run_notebooks.record_cell_times(record, "01_a.ipynb", rows)  # a rerun replaces its notebook's rows, keeps the others'
    kept = list(csv.DictReader(open(record)))
    assert [(r["notebook"], r["cell"], r["call"]) for r in kept] == [
        ("01_a.ipynb", "0", "imports"), ("01_a.ipynb", "2", "tmu.run_seeds"), ("01_a.ipynb", "3", "plt.show"),
        ("01_a.ipynb", "4", ""), ("02_b.ipynb", "1", "dlfd.run_splits")]


def test_compact_progress_keeps_each_bar_as_its_last_frame():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)
    nb.cells[0].outputs = [stream("stderr", "\rseeds:   0%| | 0/2"), stream("stderr", "\rseeds:  50%| | 1/2"),
                           stream("stderr", "\rseeds: 100%| | 2/2"), stream("stderr", "\r          \r"),
                           stream("stdout", "table\n"), stream("stderr", "\rbar: 1/1\r   "),
                           stream("stdout", "done\n"), stream("stderr", "\router: 0/1\n\rinner: 1/1\x1b[A\r\router: 1/1")]
    out = run_notebooks.compact_progress(nb).cells[0].outputs
    assert [(o.name, o.text) for o in out] == [("stderr", "seeds: 100%| | 2/2"), ("stdout", "table\n"), ("stderr", "bar: 1/1"),
                                              ("stdout", "done\n"), ("stderr", "outer: 1/1\ninner: 1/1")]


def test_notebook_04_waits_for_the_claims_of_01_to_03():
    import pipeline

    first_three = {"01_twin_machine_unlearning.ipynb", "02_unlearning_features_and_labels.ipynb",
                   "03_distribution_level_feature_distancing.ipynb"}
    assert not pipeline.ready("04_benchmark.ipynb", {"03_distribution_level_feature_distancing.ipynb"})
    assert pipeline.ready("04_benchmark.ipynb", {"05_dlfd_ablation.ipynb"})
    assert all(pipeline.ready(nb, first_three - {nb}) for nb in first_three)
    for name, (command, reader) in pipeline.PROBES.items():  # every probe exists, and names the file it writes
        script = Path(__file__).resolve().parents[1] / command.split()[0]
        assert name.rsplit(".", 1)[0] in script.read_text(), (name, command)
        assert (Path(__file__).resolve().parents[1] / "notebooks" / reader).exists()
