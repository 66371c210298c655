"""The tasking answer: one call from an area, a crime and a budget to a plan.

A monthly tasking meeting asks: *with H officer-hours a week and K NOMAD cameras,
where do we surge against this crime next month, and why?* This is the one place
that answers it; the CLI (``hotspots recommend``), the app, the brief and the main
job are thin adapters over :func:`recommend`.

1. One :class:`~hotspots.study.Study` of the area and crime over all the history
   the data covers up to ``end`` (a single read of the store).
2. **Patrols** (:func:`hotspots.plan.patrols.plan_patrols`): a forecast of next
   month per cell from that history, cells bought under the officer-hours, Gi*
   over the last 36 months as the evidence label of each.
3. **Cameras** (:func:`hotspots.plan.cameras.site_cameras`): the last 12 months'
   offences analysed (seed-stable Gi*), sites chosen by maximal covering, minus
   what council CCTV already watches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import DEFAULT_SEED
from ..errors import ParameterError, check_choice
from .cameras import site_cameras
from .patrols import Dosage, PatrolPlan, plan_patrols

__all__ = ["Tasking", "recommend"]


#: H3 resolutions a surge plan is made at: a res-10 cell is about a street block,
#: a res-8 one a neighbourhood; coarser cells cost more hours than a budget has.
PLAN_RESOLUTIONS = (10, 9, 8)


@dataclass(frozen=True)
class Tasking:
    """A surge plan and camera sites with the study and analysis behind them."""

    study: object = field(repr=False)
    analysis: object = field(repr=False)
    plan: PatrolPlan = field(repr=False)
    cameras: object = field(repr=False)
    officer_hours: float
    n_cameras: int

    @property
    def synthetic_share(self) -> float:
        return float(self.analysis.metadata["data"]["synthetic_share"])

    def to_json(self) -> dict:
        an = self.analysis
        return {
            "area": an.area.to_dict(), "crime": an.crime, "from": an.start,
            "to": an.end, "synthetic_share": self.synthetic_share,
            "forecast_month": self.plan.metadata.get("forecast", {}).get("target"),
            "patrols": self.plan.records(),
            "cameras": self.cameras.records() if self.cameras is not None else [],
            "patrol_metadata": self.plan.metadata,
            "camera_metadata": (self.cameras.metadata if self.cameras is not None
                                else None),
            "analysis": an.metadata,
        }

    def summary(self) -> list[str]:
        """Human lines: the plan, the sites and their reasons."""
        f = self.plan.metadata.get("forecast", {})
        st = self.study
        lines = [f"Surge plan: {st.crime} in {st.area.name} for {f.get('target')} "
                 f"({self.officer_hours:g} officer-hours a week; forecast: "
                 f"{f.get('method')} from {st.months[0]}..{st.months[-1]})"]
        lines += [w for w in self.analysis.metadata["why"]
                  if w.startswith("SEMI-SYNTHETIC")]
        lines += [f"  {line}" for line in self.plan.summary()]
        if self.cameras is not None:
            lines.append(f"NOMAD cameras ({self.n_cameras} per round)")
            lines += [f"  {line}" for line in self.cameras.summary()]
        return lines


def recommend(
    area=None,
    crime: str = "robbery",
    start: str | None = None,
    end: str | None = None,
    *,
    officer_hours: float = 60.0,
    cameras: int = 4,
    radius_m: float = 100.0,
    candidates: str = "points",
    rotations: int = 3,
    weeks: int = 4,
    cctv=None,
    council_cctv: bool = True,
    dosage: Dosage | None = None,
    level: int = 2,
    min_forecast: float = 0.5,
    cluster_first: bool = False,
    res: int = 10,
    weight: str = "count",
    harm_path: str | Path | None = None,
    seed: int | None = DEFAULT_SEED,
    store=None,
    study=None,
) -> Tasking:
    """Surge zones for ``officer_hours`` a week and ``cameras`` NOMAD sites.

    Parameters
    ----------
    area, crime
        As for :class:`~hotspots.study.Study`.
    start, end : str, optional
        The history the forecast learns from (default all the data covers); the
        plan is for the month after ``end``; cameras use its last 12 months.
    officer_hours : float
        Officer-hours a week for the surge (> 0).
    cameras : int
        NOMAD cameras per round (0: none).
    study : Study, optional
        An already loaded study of ``area`` and ``crime`` (the app's cache);
        ``area``, ``crime``, ``start``, ``end``, ``res`` and ``weight`` are then
        taken from it.
    Other parameters go to :func:`~hotspots.plan.patrols.plan_patrols` and
    :func:`~hotspots.plan.cameras.site_cameras`.
    """
    from ..analysis import analyse_study
    from ..study import Study

    if isinstance(cameras, bool) or int(cameras) != cameras or cameras < 0:
        raise ParameterError(f"'cameras' needs to be a whole number ≥ 0. {cameras!r} "
                             "was given instead.")
    if study is None:
        if area is None:
            raise ParameterError("'area' is needed (or a loaded 'study').")
        check_choice("res", res, PLAN_RESOLUTIONS)
        study = Study.load(area, crime, start, end, res=res, weight=weight,
                           harm_path=harm_path, store=store)
    recent = study.window(study.months[-12:][0])
    an = analyse_study(recent, seed=seed)
    plan = plan_patrols(study, officer_hours=officer_hours, level=level,
                        dosage=dosage, seed=seed, min_forecast=min_forecast,
                        cluster_first=cluster_first)
    cams = None
    if cameras:
        cams = site_cameras(an, cameras=int(cameras), radius_m=radius_m,
                            candidates=candidates, cctv=cctv, weeks=weeks,
                            rotations=rotations, council_cctv=council_cctv,
                            harm_path=harm_path)
    return Tasking(study, an, plan, cams, float(officer_hours), int(cameras))
