"""NOMAD camera siting: our sparse MCLP vs spopt's MCLP on the same instance.

For real tasking instances from the store (Merton all crime and South West BCU
robbery, 2022-01…2022-12 (real), 100 m radius, up to 400 candidate police.uk map points,
K = 4), time

- ours:  :func:`hotspots.plan.cameras.mclp_cover` (only the pairs within the
  radius, demand points with the same candidate set merged; PuLP/CBC);
- spopt: ``spopt.locate.MCLP.from_cost_matrix`` on the dense demand × candidate
  distance matrix, then ``solve`` with the same CBC;
- greedy: :func:`hotspots.plan.cameras.greedy_cover`;

and print the coverage of each (ours and spopt must be equal: both are exact) and
the ratio spopt / ours. Run: ``python benchmarks/bench_tasking.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pulp
from spopt.locate import MCLP

from hotspots.analysis import analyse
from hotspots.plan.cameras import (
    _candidates,
    _coverage,
    _demand,
    _seen_value,
    greedy_cover,
    mclp_cover,
)
from hotspots.store import Store

CASES = (("Merton", "all"), ("SW", "robbery"))
RADIUS = 100.0
K = 4


def _dense(demand, cand) -> np.ndarray:
    a = demand[["x", "y"]].to_numpy()
    b = cand[["x", "y"]].to_numpy()
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))


def main() -> None:
    store = Store.open()
    print(f"== NOMAD camera MCLP: K={K}, radius {RADIUS:g} m, same instance ==")
    print(f"{'instance':<22}{'demand':>8}{'cands':>7}{'ours s':>9}{'spopt s':>9}"
          f"{'ratio':>8}{'ours cov':>10}{'spopt cov':>10}{'greedy cov':>11}")
    for area, crime in CASES:
        an = analyse(area, crime, "2022-01", "2022-12", store=store)
        demand = _demand(an.offences, "count")
        cand, cover = _coverage(demand, _candidates("points", demand, an.offences,
                                                    None), RADIUS, 400)
        w = demand["value"].to_numpy(dtype="float64")
        t = time.perf_counter()
        ours = mclp_cover(cover, w, K)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        d = _dense(demand, cand)
        model = MCLP.from_cost_matrix(d, w, service_radius=RADIUS, p_facilities=K)
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
        ref = [j for j, v in enumerate(model.fac_vars) if v.value() > 0.5]
        t_ref = time.perf_counter() - t
        greedy = greedy_cover(cover, w, K)
        print(f"{area + ' ' + crime:<22}{len(demand):>8,}{len(cand):>7}"
              f"{t_ours:>9.2f}{t_ref:>9.2f}{t_ref / t_ours:>7.1f}x"
              f"{_seen_value(cover, w, ours):>10.0f}{_seen_value(cover, w, ref):>10.0f}"
              f"{_seen_value(cover, w, greedy):>11.0f}")


if __name__ == "__main__":
    main()
