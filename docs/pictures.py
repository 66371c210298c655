"""The printed pictures of the README: brief page 1 and a ward map page.

``python docs/pictures.py docs/img`` (part of ``make screenshots``) writes the
tasking brief for Merton robbery (60 officer-hours, 4 cameras) and the ward map of
Figge's Marsh with that plan's zones and sites, through the package's own public
functions on the store, then renders their first pages to PNG with poppler's
``pdftoppm``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _png(pdf: Path, out: Path, dpi: int = 80) -> Path:
    if not shutil.which("pdftoppm"):
        raise SystemExit("pdftoppm is needed: make system")
    stem = out.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1",
                    "-singlefile", str(pdf), str(stem)], check=True)
    return out


def main(folder: str = "docs/img") -> None:
    from hotspots.plan.tasking import recommend
    from hotspots.report.brief import write_brief
    from hotspots.report.wardmaps import ward_maps

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    task = recommend("Merton", "robbery", officer_hours=60, cameras=4)
    with tempfile.TemporaryDirectory() as tmp:
        brief = write_brief(task.plan, task.cameras, Path(tmp) / "brief.pdf",
                            analysis=task.analysis)
        print(_png(Path(brief.pdf), out / "brief.png"))
        an = task.analysis
        wm = ward_maps("Figge's Marsh", Path(tmp) / "maps", an.crime, an.start,
                       an.end, res=an.metadata["grid"]["resolution"], analysis=an,
                       zones=task.plan.zones,
                       sites=task.cameras.sites[task.cameras.sites["round"] == 1])
        print(_png(Path(wm.pdfs[0]), out / "ward_map.png"))


if __name__ == "__main__":
    main(*sys.argv[1:])
