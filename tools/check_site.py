"""Open every page of the built book in headless chromium, as a reader's browser would, and fail on what a reader
would see broken: a page that does not load, an image that does not load, an error in the browser's console, a
paper notebook without its verdict box. Keeps a screenshot of one notebook page and one of each verdict box
(``<site>/verdicts/<notebook>.png``).

    python tools/check_site.py [--site build/site] [--screenshot-page notebooks/01_twin_machine_unlearning.html]

The pages are served over HTTP from 127.0.0.1 (a thread of this process), not opened as files, so scripts, styles
and images load the way they would from a web server. Needs Debian's ``chromium`` and ``chromium-driver``
(``.ci/run`` installs them) and the ``selenium`` package (the ``docs`` extra).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only
    from selenium import webdriver

ROOT = Path(__file__).resolve().parents[1]

# every <img> must have finished loading with a real size; lazily loaded images are scrolled into view first
IMAGES_JS = """
const imgs = Array.from(document.images);
imgs.forEach(i => { i.loading = 'eager'; i.scrollIntoView(); });
return imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth}));
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # one line per request would drown the report
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def browser() -> webdriver.Chrome:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        raise SystemExit("headless check needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)  # an explicit driver: nothing is downloaded


# the verdict box is the table whose header names each claim's measured reason or caveat; the paper notebooks must show one
VERDICT_BOX_JS = """return [...document.querySelectorAll('table')].find(t => t.innerText.includes('measured reason or caveat')) || null"""
PAPER_PAGES = ("01_twin_machine_unlearning", "02_unlearning_features_and_labels", "03_distribution_level_feature_distancing")


def check(site: Path, screenshot_page: str) -> dict:
    html = site / "html"
    pages = sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                   if not p.relative_to(html).as_posix().startswith(("_static/", "_sources/")))
    server, base = serve(html)
    driver = browser()
    report = {"pages": 0, "images": 0, "problems": []}
    try:
        for page in pages:
            driver.get(base + page)
            state = driver.execute_script("return document.readyState")
            title = driver.title
            if state != "complete" or not title or "404" in title:
                report["problems"].append(f"{page}: did not load (readyState {state!r}, title {title!r})")
            images = driver.execute_script(IMAGES_JS)
            driver.execute_script("return new Promise(r => setTimeout(r, 200))")
            images = driver.execute_script(IMAGES_JS)  # re-read after the scroll let lazy images load
            for img in images:
                if not img["complete"] or img["width"] == 0:
                    report["problems"].append(f"{page}: image did not load: {img['src']}")
            report["images"] += len(images)
            for entry in driver.get_log("browser"):
                if entry["level"] == "SEVERE":
                    report["problems"].append(f"{page}: console error: {entry['message']}")
            report["pages"] += 1
            box = driver.execute_script(VERDICT_BOX_JS)  # the verdict box of a paper notebook (tools/findings.py)
            if box is not None:
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
                out = site / "verdicts" / f"{Path(page).stem}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                box.screenshot(str(out))
                report.setdefault("verdict_boxes", []).append(str(out.relative_to(ROOT)))
            elif Path(page).stem in PAPER_PAGES:
                report["problems"].append(f"{page}: no verdict box")
            if page == screenshot_page:
                driver.execute_script("window.scrollTo(0, 0)")  # the page as a reader first sees it
                driver.save_screenshot(str(site / "screenshot.png"))
                report["screenshot"] = str((site / "screenshot.png").relative_to(ROOT))
    finally:
        driver.quit()
        server.shutdown()
    if screenshot_page not in pages:
        report["problems"].append(f"screenshot page {screenshot_page} is not in the site")
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", default="build/site")
    ap.add_argument("--screenshot-page", default="notebooks/01_twin_machine_unlearning.html")
    args = ap.parse_args(argv)
    site = ROOT / args.site
    if not (site / "html" / "index.html").exists():
        raise SystemExit(f"no book at {site / 'html'}: run `make site` first")
    report = check(site, args.screenshot_page)
    (site / "check.json").write_text(json.dumps(report, indent=1))
    for p in report["problems"]:
        print("PROBLEM", p)
    print(f"browser check: {report['pages']} pages, {report['images']} images, {len(report['problems'])} problems; "
          f"screenshot {report.get('screenshot', 'not taken')}; verdict boxes: {', '.join(report.get('verdict_boxes', [])) or 'none'}")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
