"""Shared PDF page parts (hotspots.report._pdf): text stays on the page."""

from __future__ import annotations

import pytest

from hotspots.report import _pdf


@pytest.mark.parametrize("title", [
    "Abbey ward (Merton): robbery hot spots",
    "Chessington South & Malden Rushett ward (Kingston upon Thames): offences and "
    "top streets",
    "Mottingham, Coldharbour & New Eltham ward (Greenwich): violence and sexual "
    "offences hot spots"])
def test_titles_and_subtitles_stay_on_the_page(title):
    """A long ward name had run the title off the page's right edge: the type
    shrinks until it fits, a short title keeps its size."""
    sub = ("Map: Jan 2022 to Dec 2022 · forecast from Feb 2018 · zone labels from "
           "Feb 2019 (no data 2021-02..2021-12) · 60 officer-hours a week · 4 "
           "cameras · cameras 2023-01-02 to 2023-03-26")
    fig = _pdf.new_page(title, sub)
    renderer = fig.canvas.get_renderer()
    width = fig.get_figwidth() * fig.dpi
    head, subtitle = fig.texts
    for t in (head, subtitle):
        box = t.get_window_extent(renderer)
        assert box.x1 <= 0.985 * width, (t.get_text()[:40], box.x1, width)
    assert head.get_fontsize() == 16 if len(title) < 60 else \
        head.get_fontsize() < 16
    _pdf.plt.close(fig)
