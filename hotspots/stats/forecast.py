"""Next month's offences per cell: exponentially weighted counts and a non-negative
self-exciting regression, the method and its parameters chosen by rolling validation.

Arrays in, arrays out: a cell × month matrix of counts (or harm) over the *covered*
months, the months themselves (``YYYY-MM``, gaps allowed) and, for the regression,
the grid's binary ring-1 neighbours. Nothing here reads the store.

Months and gaps
---------------
Every lag is a *calendar* lag. A month the data does not cover (police.uk never
published it, e.g. robbery 2021-02…2021-12) is absent, never a month of zeros: its
column is simply not in the matrix, weights still decay across it, and a lag window
that falls wholly inside a gap is replaced by the cell's long-run level (below).

Exponentially weighted counts (``ewma``)
----------------------------------------
For a forecast origin τ (the month to forecast) and half-life *h* months, each
covered month *s* < τ gets weight ``w_s = 2^{−(τ − 1 − s)/h}`` (last month 1, a
month *h* months earlier ½) and the forecast is the weighted mean

    μ_i(τ) = Σ_s w_s y_is / Σ_s w_s.

*h* → ∞ is the all-history mean, *h* → 0 last month's count: one number spans the
two naive rules, and long series of small-area crime counts are forecast well by
this kind of smoothing (Gorr, Olligschlaeger & Thompson 2003). The sums are updated
month by month (``S ← 2^{−1/h} S + y``), so every origin of a backtest costs one
pass over the matrix.

Self-exciting regression (``self_exciting``)
-------------------------------------------
Crime at micro-places is mostly a stable long-run level (Weisburd et al. 2004) with
short-lived boosts after recent events, at the place and next to it (near repeats:
Townsley, Homel & Chaseling 2003; Johnson & Bowers 2004); self-exciting point
processes (Mohler et al. 2011) model exactly that. Here it is a linear model for the
monthly count with non-negative weights on averages of past counts at three time
scales and three place scales (:data:`FEATURES`):

* the cell: its long-run level (mean of every covered month before τ), last month,
  months 2–3 and months 4–12 (each the mean of the covered months in the window;
  a window with no covered month takes the long-run level), and exponentially
  weighted means with half-lives 3, 12 and 48 months;
* its ring (the six cells around it): the mean of their last three months (the near
  repeat) and of their long-run level and 12-month-half-life mean;
* the ring beyond (second ring): long-run level and 12-month-half-life mean, so a
  busy street a block away informs a cell with little history of its own.

The weights are the non-negative least-squares fit (Lawson & Hanson 1974) of each
month's counts on the features built from the months before it, over the last
``fit_window`` covered months before the origin (every cell, stacked). Only the
12 × 12 cross-products of each month are kept, so the fit costs nothing however
large the grid. Non-negative weights keep every forecast ≥ 0 and every weight
readable: "0.31 of the long-run level, 0.13 of the second ring's …" is the whole
model. A month is fitted only from months before it, so the regression never sees
the month it forecasts.

Choosing the method (``forecast``)
----------------------------------
Rolling-origin validation (Tashman 2000) on the training months only: every covered
month *v* before the target is forecast from the months before *v*, by every
half-life in :data:`HALF_LIVES` and by the regression. For a target month the last
``validation`` such months choose

1. the half-life, by the Poisson log score ``Σ_i y_iv log μ_iv − μ_iv`` (a proper
   scoring rule, Gneiting & Raftery 2007; forecasts are floored at 1 % of their
   mean so an offence in a cell with no history costs a finite penalty);
2. the method, by *capture*: offences of month *v* in the top ``share`` of cells by
   each forecast, summed over the validation months — the quantity a surge plan
   is judged on. The regression is kept unless exponential weighting captured
   more; ties in a ranking are broken by a fixed, seeded order of the cells, so the
   choice never depends on the seed of anything else.

The test month itself never enters its own choice or fit. Each target records its
method, half-life, regression weights and validation scores for the audit trail.

References
----------
Gneiting, T. & Raftery, A. E. (2007). Strictly proper scoring rules, prediction,
and estimation. *JASA* 102(477), 359–378.
Gorr, W., Olligschlaeger, A. & Thompson, Y. (2003). Short-term forecasting of crime.
*International Journal of Forecasting* 19(4), 579–594.
Johnson, S. D. & Bowers, K. J. (2004). The burglary as clue to the future.
*European Journal of Criminology* 1(2), 237–255.
Lawson, C. L. & Hanson, R. J. (1974). *Solving Least Squares Problems*. Prentice-Hall.
Mohler, G. O., Short, M. B., Brantingham, P. J., Schoenberg, F. P. & Tita, G. E.
(2011). Self-exciting point process modeling of crime. *JASA* 106(493), 100–108.
Tashman, L. J. (2000). Out-of-sample tests of forecasting accuracy: an analysis and
review. *International Journal of Forecasting* 16(4), 437–450.
Townsley, M., Homel, R. & Chaseling, J. (2003). Infectious burglaries. *British
Journal of Criminology* 43(3), 615–633.
Weisburd, D., Bushway, S., Lum, C. & Yang, S.-M. (2004). Trajectories of crime at
places. *Criminology* 42(2), 283–322.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

from ..config import DEFAULT_SEED
from ..errors import ParameterError
from ..months import check_month, month_index, shift_month

__all__ = [
    "FEATURES",
    "HALF_LIVES",
    "METHODS",
    "Forecast",
    "SelfExciting",
    "ewma",
    "forecast",
    "self_exciting",
    "top_k",
]

#: Half-lives (months) tried by rolling validation.
HALF_LIVES = (3, 4, 6, 9, 12, 18, 24, 36, 48)
#: The forecasting methods.
METHODS = ("ewma", "self-exciting")
#: Features of the self-exciting regression, in coefficient order.
FEATURES = (
    "level", "last_month", "months_2_3", "months_4_12", "ew_3", "ew_12", "ew_48",
    "ring_recent", "ring_level", "ring_ew_12", "ring2_level", "ring2_ew_12",
)
#: The seed of the fixed cell order that breaks ties in a ranking.
SEED = DEFAULT_SEED
_FEATURE_HL = (3, 12, 48)
_FLOOR = 0.01  # log score: forecasts floored at this share of their mean


# -- results ---------------------------------------------------------------------
@dataclass(frozen=True)
class SelfExciting:
    """A fitted self-exciting regression.

    Attributes
    ----------
    values : ndarray, shape (n,)
        Forecast offences (or harm) per cell for ``target``.
    target : str
    coef : dict
        Non-negative weight of each feature (:data:`FEATURES`).
    fitted_on : tuple of str
        The months whose counts the weights were fitted to.
    """

    values: np.ndarray = field(repr=False)
    target: str
    coef: dict
    fitted_on: tuple


@dataclass(frozen=True)
class Forecast:
    """Forecasts for one or more target months, with the rolling-validation record.

    Attributes
    ----------
    values : ndarray, shape (n_cells, n_targets)
        Forecast offences (or harm) per cell and target month.
    targets : tuple of str
    method : tuple of str
        The method chosen for each target (``ewma`` or ``self-exciting``).
    half_life : tuple of float
        The half-life chosen for each target (used when the method is ``ewma``).
    coef : tuple of dict or None
        The regression weights fitted for each target (None when too few months).
    validation : tuple of dict
        Per target: the validation months and each candidate's scores.
    share : float
        Share of cells whose capture chose the method.
    seed : int
        Seed of the tie-breaking order.
    """

    values: np.ndarray = field(repr=False)
    targets: tuple
    method: tuple
    half_life: tuple
    coef: tuple = field(repr=False)
    validation: tuple = field(repr=False)
    share: float = 0.02
    seed: int = SEED

    def of(self, target: str) -> np.ndarray:
        """The forecast for one target month."""
        return self.values[:, self.targets.index(target)]

    def audit(self, target: str | None = None) -> dict:
        """The choice for ``target`` (default the last) as a JSON-ready dict."""
        i = -1 if target is None else self.targets.index(target)
        coef = self.coef[i]
        return {
            "target": self.targets[i],
            "method": self.method[i],
            "half_life_months": _num(self.half_life[i]),
            "self_exciting_weights": None if coef is None else
            {k: round(float(v), 4) for k, v in coef.items()},
            "validation": self.validation[i],
            "chosen_by": (
                "rolling validation on the months before the target: half-life by "
                "Poisson log score, method by offences captured in the top "
                f"{100 * self.share:.3g} % of cells"),
            "tie_break_seed": self.seed,
        }

    def summary(self) -> list[str]:
        """One line per target: method and parameters."""
        out = []
        for t, m, h in zip(self.targets, self.method, self.half_life, strict=True):
            what = (f"exponentially weighted counts, half-life {h:g} months"
                    if m == "ewma" else "self-exciting regression")
            out.append(f"{t}: {what}")
        return out


def _num(v):
    return None if v is None or not np.isfinite(v) else float(v)


# -- public functions --------------------------------------------------------------
def ewma(values, months: Sequence[str], half_life: float, *,
         target: str | None = None) -> np.ndarray:
    """Exponentially weighted mean count per cell for ``target``.

    Parameters
    ----------
    values : array_like, shape (n_cells, n_months)
        Counts (or harm) per cell in each covered month.
    months : sequence of str
        The covered months of the columns, ascending (gaps allowed).
    half_life : float
        Months over which a month's weight halves (``inf``: all-history mean).
    target : str, optional
        The month forecast (default the month after the last); only months before
        it are used.

    Returns
    -------
    ndarray, shape (n_cells,)

    Examples
    --------
    Weights 1, ½, ¼ for the last three months with a one-month half-life:

    >>> ewma([[4.0, 2.0, 0.0]], ["2022-01", "2022-02", "2022-03"], 1).round(4)
    array([1.1429])

    A missing month is skipped, not read as zero (2022-02 absent: weights ¼, 1):

    >>> ewma([[4.0, 0.0]], ["2022-01", "2022-03"], 1).round(4)
    array([0.8])
    """
    y, cal = _check(values, months)
    h = _check_half_life(half_life)
    tau = _target_index(target, cal)
    use = cal < tau
    if not use.any():
        raise ParameterError(f"no covered month before {_month(tau)} to forecast from.")
    lag = tau - 1 - cal[use]
    w = np.ones(len(lag)) if np.isinf(h) else 0.5 ** (lag / h)
    return y[:, use] @ w / w.sum()


def self_exciting(values, months: Sequence[str], W, *, target: str | None = None,
                  fit_window: int = 24, min_history: int = 3) -> SelfExciting:
    """The non-negative self-exciting regression's forecast for ``target``.

    Parameters
    ----------
    values : array_like, shape (n_cells, n_months)
        Counts (or harm) per cell in each covered month.
    months : sequence of str
        The covered months of the columns, ascending (gaps allowed).
    W : scipy.sparse matrix, shape (n_cells, n_cells)
        Binary ring-1 neighbours, zero diagonal (the second ring is derived).
    target : str, optional
        Month forecast (default the month after the last).
    fit_window : int
        Covered months the weights are fitted on (the last before ``target``).
    min_history : int
        Covered months a month needs before it to be fitted on.

    Returns
    -------
    SelfExciting

    Raises
    ------
    ParameterError
        When fewer than 3 months can be fitted on before ``target``.
    """
    y, cal = _check(values, months)
    tau = _target_index(target, cal)
    eng = _Engine(y, cal, _check_w(W, len(y)), half_lives=(), fit_window=fit_window,
                  min_history=min_history, share=0.02, seed=SEED, tiebreak=None)
    out = eng.run([tau], select=False)
    coef = out["coef"][0]
    if coef is None:
        raise ParameterError(
            f"the self-exciting regression needs at least 3 months with "
            f"{min_history} months of history before {_month(tau)}.")
    return SelfExciting(out["reg"][:, 0], _month(tau), coef,
                        tuple(_month(c) for c in out["fitted_on"][0]))


def forecast(
    values,
    months: Sequence[str],
    W,
    *,
    targets: Sequence[str] | None = None,
    share: float = 0.02,
    half_lives: Sequence[float] = HALF_LIVES,
    fit_window: int = 24,
    validation: int = 24,
    min_history: int = 3,
    seed: int = SEED,
    tiebreak=None,
    methods: Sequence[str] = METHODS,
) -> Forecast:
    """Forecast each target month by the method rolling validation chooses.

    Parameters
    ----------
    values : array_like, shape (n_cells, n_months)
        Counts (or harm) per cell in each covered month (gaps left out).
    months : sequence of str
        The covered months of the columns, ascending.
    W : scipy.sparse matrix
        Binary ring-1 neighbours of the cells, zero diagonal.
    targets : sequence of str, optional
        Months to forecast (default the month after the last). Each is forecast
        from the months before it only; a target may be a covered month (a
        backtest) or any later month.
    share : float
        Share of cells whose captured offences choose the method (the plan's
        area share).
    half_lives : sequence of float
        Half-lives (months) tried for the exponential weights.
    fit_window : int
        Covered months the regression is fitted on.
    validation : int
        Covered months before a target that choose its method and half-life.
    min_history : int
        Covered months a month needs before it to be forecast in validation.
    seed : int
        Seed of the fixed cell order that breaks ties in rankings.
    tiebreak : array_like of int, optional
        That order given directly (a rank per cell, e.g. from the cell ids, so
        ties never depend on how the cells were listed).
    methods : sequence of str
        The methods rolling validation may choose from (:data:`METHODS`).

    Returns
    -------
    Forecast

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> y = [[1, 2, 1, 2, 1, 2], [0, 0, 0, 0, 0, 0], [5, 5, 5, 5, 5, 5]]
    >>> W = sp.csr_matrix((3, 3))
    >>> months = ["2022-01", "2022-02", "2022-03", "2022-04", "2022-05", "2022-06"]
    >>> f = forecast(y, months, W, share=0.34)
    >>> f.targets, f.values[:, 0].round(1).tolist()
    (('2022-07',), [1.5, 0.0, 5.0])
    """
    y, cal = _check(values, months)
    if not 0 < float(share) <= 1:
        raise ParameterError(f"'share' needs to be in (0, 1]. {share!r} was given.")
    hls = tuple(_check_half_life(h) for h in half_lives)
    if not hls:
        raise ParameterError("'half_lives' needs at least one half-life.")
    methods = tuple(methods)
    if not methods or any(m not in METHODS for m in methods):
        raise ParameterError(
            f"'methods' needs to be some of {METHODS}. {methods!r} was given instead.")
    if methods == ("self-exciting",):
        raise ParameterError(
            "'methods' needs 'ewma' too: it forecasts the months before the "
            "regression can be fitted.")
    for name, v in (("fit_window", fit_window), ("validation", validation),
                    ("min_history", min_history)):
        if not isinstance(v, int | np.integer) or v < 1:
            raise ParameterError(
                f"'{name}' needs to be a whole number ≥ 1. {v!r} was given instead.")
    taus = ([_target_index(None, cal)] if targets is None
            else [_target_index(t, cal) for t in targets])
    if sorted(taus) != taus or len(set(taus)) != len(taus):
        raise ParameterError("'targets' need to be distinct months in order.")
    eng = _Engine(y, cal, _check_w(W, len(y)), half_lives=hls, fit_window=fit_window,
                  min_history=min_history, share=float(share), seed=seed,
                  tiebreak=tiebreak, validation=validation,
                  regression="self-exciting" in methods)
    out = eng.run(taus, select=True)
    return Forecast(out["chosen"], tuple(_month(t) for t in taus),
                    tuple(out["method"]), tuple(out["half_life"]), tuple(out["coef"]),
                    tuple(out["validation"]), float(share), int(seed))


def top_k(score, k: int, tiebreak) -> np.ndarray:
    """Positions of the ``k`` highest scores; ties go to the lower ``tiebreak`` rank.

    Linear time (a partition, not a sort of every cell).

    Examples
    --------
    >>> top_k([3.0, 5.0, 3.0, 1.0], 2, [0, 1, 2, 3]).tolist()
    [1, 0]
    >>> top_k([3.0, 5.0, 3.0, 1.0], 2, [3, 1, 2, 0]).tolist()
    [1, 2]
    """
    s = np.asarray(score, dtype="float64")
    n = len(s)
    k = int(min(max(k, 0), n))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.asarray(tiebreak)
    kth = np.partition(s, n - k)[n - k]
    above = np.flatnonzero(s > kth)
    tied = np.flatnonzero(s == kth)
    tied = tied[np.argsort(rank[tied], kind="stable")][: k - len(above)]
    cand = np.concatenate([above, tied])
    order = np.lexsort((rank[cand], -s[cand]))
    return cand[order].astype(np.int64)


# -- checks ------------------------------------------------------------------------
def _check(values, months) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(values, dtype="float64")
    if y.ndim != 2:
        raise ParameterError(
            f"'values' needs to be a cells × months matrix; got shape {y.shape}.")
    months = [check_month(m, "months") for m in months]
    if len(months) != y.shape[1]:
        raise ParameterError(
            f"'months' has {len(months)} months for {y.shape[1]} columns.")
    if not len(months):
        raise ParameterError("no months to forecast from.")
    cal = np.array([month_index(m) for m in months], dtype=np.int64)
    if (np.diff(cal) <= 0).any():
        raise ParameterError("'months' need to be distinct and ascending.")
    if not np.isfinite(y).all() or (y < 0).any():
        raise ParameterError("'values' need finite, non-negative counts or harm.")
    return y, cal


def _check_half_life(h) -> float:
    try:
        h = float(h)
    except (TypeError, ValueError):
        h = float("nan")
    if not h > 0:
        raise ParameterError(
            f"a half-life needs to be a number of months > 0. {h!r} was given.")
    return h


def _check_w(W, n: int) -> sp.csr_matrix:
    if not sp.issparse(W) or W.shape != (n, n):
        raise ParameterError(
            f"'W' needs to be a scipy sparse matrix of shape ({n}, {n}); got "
            f"{type(W).__name__} {getattr(W, 'shape', None)}.")
    W = sp.csr_matrix(W, dtype="float64")
    if W.diagonal().any():
        raise ParameterError("'W' needs a zero diagonal.")
    if W.nnz and not np.all(W.data == 1):
        raise ParameterError("'W' needs binary (0/1) weights.")
    return W


def _target_index(target, cal) -> int:
    if target is None:
        return int(cal[-1]) + 1
    return month_index(check_month(target, "target"))


def _month(k: int) -> str:
    return shift_month("0000-01", int(k))


# -- the engine ----------------------------------------------------------------------
def _ring2(W: sp.csr_matrix) -> sp.csr_matrix:
    """Binary second ring: cells two steps away, not one and not the cell."""
    n = W.shape[0]
    A = (W + sp.identity(n, format="csr")).astype(bool).astype("float64")
    R = ((A @ A) > 0).astype("float64") - A
    R.eliminate_zeros()
    return sp.csr_matrix(R > 0, dtype="float64")


def _ring_mean(M: sp.csr_matrix, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mean of ``v`` over each row's neighbours (the cell's own value without any)."""
    s = M @ v
    return np.where(k > 0, s / np.maximum(k, 1), v)


def _nnls_gram(G: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``argmin_{b ≥ 0} ||X b − y||`` from ``G = XᵀX`` and ``g = Xᵀy``."""
    p = len(g)
    G = G + 1e-10 * max(np.trace(G) / p, 1e-12) * np.eye(p)
    R = np.linalg.cholesky(G).T  # G = RᵀR
    z = np.linalg.solve(R.T, g)
    b, _ = nnls(R, z)
    return b


class _Engine:
    """One pass forward over the months: forecasts at every origin from the months
    before it, each candidate scored on the covered months, targets chosen."""

    def __init__(self, y, cal, W, *, half_lives, fit_window, min_history, share,
                 seed, tiebreak, validation=24, regression=True):
        self.regression = regression
        self.y, self.cal, self.W = y, cal, W
        self.n = len(y)
        self.hls = tuple(half_lives)
        self.all_hl = tuple(sorted(set(self.hls) | set(_FEATURE_HL)))
        self.fit_window, self.min_history = int(fit_window), int(min_history)
        self.validation = int(validation)
        self.k = max(1, int(round(share * self.n)))
        if tiebreak is None:
            tiebreak = np.random.default_rng(seed).permutation(self.n)
        self.rank = np.asarray(tiebreak)
        if self.rank.shape != (self.n,):
            raise ParameterError(f"'tiebreak' needs one rank per cell ({self.n}).")
        self.kw = np.asarray(W.sum(axis=1)).ravel()
        self.R2 = _ring2(W) if self.n else W
        self.k2 = np.asarray(self.R2.sum(axis=1)).ravel()
        self.col = {int(c): j for j, c in enumerate(cal)}

    # features at an origin -------------------------------------------------------
    def _lag_mean(self, tau: int, a: int, b: int, level: np.ndarray) -> np.ndarray:
        cols = [self.col[tau - lag] for lag in range(a, b + 1) if tau - lag in self.col]
        return self.y[:, cols].mean(axis=1) if cols else level

    def _features(self, tau, ew, level) -> np.ndarray:
        recent = self._lag_mean(tau, 1, 3, level)
        return np.column_stack([
            level,
            self._lag_mean(tau, 1, 1, level),
            self._lag_mean(tau, 2, 3, level),
            self._lag_mean(tau, 4, 12, level),
            ew[3.0], ew[12.0], ew[48.0],
            _ring_mean(self.W, self.kw, recent),
            _ring_mean(self.W, self.kw, level),
            _ring_mean(self.W, self.kw, ew[12.0]),
            _ring_mean(self.R2, self.k2, level),
            _ring_mean(self.R2, self.k2, ew[12.0]),
        ])

    # scores ----------------------------------------------------------------------
    def _log_score(self, mu, y) -> float:
        m = mu.mean()
        mu = np.maximum(mu, max(_FLOOR * m, 1e-12))
        return float((y * np.log(mu) - mu).sum())

    def _capture(self, mu, y) -> float:
        return float(y[top_k(mu, self.k, self.rank)].sum())

    # the pass ----------------------------------------------------------------------
    def run(self, taus, select: bool) -> dict:
        y, cal = self.y, self.cal
        hl = np.array(self.all_hl, dtype="float64")
        decay = np.where(np.isinf(hl), 1.0, 0.5 ** (1.0 / hl))
        S = np.zeros((self.n, len(hl)))
        D = np.zeros(len(hl))
        C = np.zeros(self.n)
        c = 0
        at = None  # the origin the sums stand at
        grams: list[tuple[int, np.ndarray, np.ndarray]] = []
        scores: list[tuple[int, dict, dict]] = []  # (month, log scores, captures)
        events = sorted({int(t) for t in cal} | {int(t) for t in taus})
        targets = {int(t) for t in taus}
        out = {"chosen": np.zeros((self.n, len(taus))), "reg": np.zeros(
            (self.n, len(taus))), "method": [], "half_life": [], "coef": [],
            "validation": [], "fitted_on": []}
        ti = 0
        for tau in events:
            if tau > max(targets):
                break
            if at is not None and tau > at:
                f = decay ** (tau - at)
                S *= f
                D *= f
            at = tau
            covered = tau in self.col
            history = c
            if history >= self.min_history:
                ew = {h: S[:, i] / D[i] for i, h in enumerate(hl)}
                level = C / c
                X = self._features(tau, ew, level)
                fit = grams[-self.fit_window:]
                coef = _nnls_gram(sum(g[1] for g in fit), sum(g[2] for g in fit)) \
                    if len(fit) >= 3 else None
                reg = X @ coef if coef is not None else None
                if tau in targets:
                    self._target(out, ti, tau, ew, reg, coef, fit, scores, select)
                    ti += 1
                if covered:
                    yt = y[:, self.col[tau]]
                    if select:
                        logs = {h: self._log_score(ew[h], yt) for h in self.hls}
                        caps = {h: self._capture(ew[h], yt) for h in self.hls}
                        if reg is not None:
                            caps["reg"] = self._capture(reg, yt)
                        scores.append((tau, logs, caps))
                    grams.append((tau, X.T @ X, X.T @ yt))
            elif tau in targets:
                raise ParameterError(
                    f"{_month(tau)} has fewer than {self.min_history} covered months "
                    "before it to forecast from.")
            if covered:
                yt = y[:, self.col[tau]]
                S = decay * S + yt[:, None]
                D = decay * D + 1.0
                C += yt
                c += 1
                at = tau + 1
        return out

    def _target(self, out, ti, tau, ew, reg, coef, fit, scores, select) -> None:
        out["coef"].append(None if coef is None else dict(
            zip(FEATURES, (float(b) for b in coef), strict=True)))
        out["fitted_on"].append(tuple(g[0] for g in fit) if coef is not None else ())
        if reg is not None:
            out["reg"][:, ti] = reg
        if not select:
            return
        val = [s for s in scores if s[0] < tau][-self.validation:]
        if val:
            tot = {h: sum(s[1][h] for s in val) for h in self.hls}
            h_star = max(self.hls, key=lambda h: (tot[h], h))
        else:
            h_star = 12.0 if 12.0 in self.hls else self.hls[len(self.hls) // 2]
        with_reg = [s for s in val if "reg" in s[2]]
        cap_reg = sum(s[2]["reg"] for s in with_reg)
        cap_ew = sum(s[2][h_star] for s in with_reg)
        use_reg = (self.regression and reg is not None and len(with_reg) >= 3
                   and cap_reg >= cap_ew)
        out["chosen"][:, ti] = reg if use_reg else ew[h_star]
        out["method"].append("self-exciting" if use_reg else "ewma")
        out["half_life"].append(float(h_star))
        out["validation"].append({
            "months": [_month(val[0][0]), _month(val[-1][0])] if val else None,
            "n_months": len(val),
            "log_score": {f"{h:g}": round(tot[h], 2) for h in self.hls} if val
            else {},
            "captured": {"ewma": cap_ew, "self-exciting": cap_reg,
                         "months_compared": len(with_reg)},
        })
