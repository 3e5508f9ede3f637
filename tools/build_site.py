"""Build the static HTML book: the README as its front page and one page per executed notebook.

    python tools/build_site.py [--notebooks executed/cpu] [--out build/site]

``--notebooks`` is a folder of *executed* notebooks: the committed cpu runs (``executed/cpu``, the default) or a
fresh smoke run (``build/smoke``, what CI checks). The pages are laid out in ``<out>/src`` (README -> index.md,
notebooks/, figures/) and built by Sphinx with myst-nb (nothing is executed) into ``<out>/html``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from run_notebooks import compact_progress

ROOT = Path(__file__).resolve().parents[1]


def layout(notebooks: Path, src: Path) -> list[str]:
    """Copy the pages into ``src``; return the notebook page names, in order."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    for f in ("conf.py", "favicon.svg"):
        shutil.copy(ROOT / "docs" / f, src / f)
    shutil.copytree(ROOT / "figures", src / "figures")
    names = []
    for nb in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        # progress bars as their last frame (a fresh smoke run stores every frame as an output of its own)
        nbformat.write(compact_progress(nbformat.read(nb, as_version=4)), src / "notebooks" / nb.name)
        names.append(nb.stem)
    if not names:
        raise SystemExit(f"no executed notebooks in {notebooks}: run `make reproduce` or the smoke run first")
    readme = (ROOT / "README.md").read_text()
    # links into the repository that the book holds as pages of its own
    readme = re.sub(r"\]\((?:executed/cpu|notebooks)/([0-9][0-9]_[^)]+\.ipynb)\)", r"](notebooks/\1)", readme)
    readme = readme.replace("](executed/cpu/)", f"](notebooks/{names[0]}.ipynb)")  # the folder: its first page
    toc = "\n".join(f"notebooks/{n}" for n in names)
    (src / "index.md").write_text(readme + f"\n\n```{{toctree}}\n:hidden:\n:caption: Notebooks\n\n{toc}\n```\n")
    # the notebooks link to the README with ../README.md; in the book that page is the index
    for nb in (src / "notebooks").glob("*.ipynb"):
        nb.write_text(nb.read_text().replace("](../README.md)", "](../index.md)"))
    return names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebooks", default="executed/cpu")
    ap.add_argument("--out", default="build/site")
    args = ap.parse_args(argv)
    out = ROOT / args.out
    start = time.perf_counter()
    names = layout(ROOT / args.notebooks, out / "src")
    if (out / "html").exists():
        shutil.rmtree(out / "html")
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", str(out / "src"), str(out / "html")]
    rc = subprocess.call(cmd)
    if rc:
        return rc
    size = sum(f.stat().st_size for f in (out / "html").rglob("*") if f.is_file())
    print(f"site: {len(names)} notebooks from {args.notebooks} -> {out / 'html'}; {size / 2**20:.1f} MiB; "
          f"built in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
