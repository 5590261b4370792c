"""Open a jurist HTML report in headless Chromium with the network cut off and check every chart drew.

Prints one line per chart (its id and how many marks its SVG holds) and exits 1 when a chart failed to
render or drew no marks. ``--screenshot PNG`` saves the page from its top to the end of the charts (how
``docs/img/report-demo.png`` was taken from ``make demo``'s ``reports/demo.html``). The browser is the
tests' harness (``tests/browser.py``: Debian's ``/usr/bin/chromium`` driven by Playwright).

    .venv/bin/python scripts/check_report.py reports/demo.html [--screenshot docs/img/report-demo.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

MARKS = "svg g.role-mark > path, svg g.role-mark > text, svg g.role-mark > line"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(f"{args.report}: no such file", file=sys.stderr)
        return 2
    from browser import chromium_page

    bad = 0
    with chromium_page(width=1400, height=1000) as page:
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else route.abort())
        page.goto(args.report.resolve().as_uri())
        page.wait_for_function("document.querySelectorAll('figure.vega[data-rendered], figure.vega[data-error]')"
                               ".length === document.querySelectorAll('figure.vega').length", timeout=30000)
        figures = page.locator("figure.vega")
        count = figures.count()
        for i in range(count):
            figure = figures.nth(i)
            error, marks = figure.get_attribute("data-error"), figure.locator(MARKS).count()
            bad += bool(error) or marks == 0
            print(f"{figure.get_attribute('id')}: {marks} marks" + (f", error: {error}" if error else ""))
        errors = list(page.errors)
        for error in errors:
            print(f"page error: {error}")
        if args.screenshot is not None:
            box = page.locator("#charts").bounding_box()
            height = box["y"] + box["height"] + 10 if box else 1000
            page.screenshot(path=str(args.screenshot), full_page=True,
                            clip={"x": 0, "y": 0, "width": 1400, "height": height})
            print(f"screenshot: {args.screenshot}")
    print(f"{count} charts, {bad} without marks" + (f", {len(errors)} page errors" if errors else ""))
    return 1 if bad or errors or not count else 0


if __name__ == "__main__":
    sys.exit(main())
