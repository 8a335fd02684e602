r"""Arrhenius fits of diffusion coefficients (the study's Eq. 3).

.. math::  D(T) = D_0 \exp\!\left(-\frac{E_a}{k_B T}\right),
           \qquad \ln D = \ln D_0 - E_a \cdot \frac{1}{k_B T}

:func:`fit_arrhenius` is a weighted least-squares fit of ln D against 1/(k_B T), with
parameters (ln D0, Ea). Weights are 1/sigma_lnD^2 with sigma_lnD = D_err / D (first-order
error of a logarithm). The parameter covariance is (X^T W X)^-1, multiplied by the
reduced chi^2 when that exceeds 1 (Birge ratio: the scatter of the points is larger than
their stated errors, so the stated errors alone would understate the uncertainty of Ea).
Without errors the fit is ordinary least squares with the residual variance (needs >= 3
temperatures for an uncertainty). ``D0_err_cm2_s`` = D0 x sigma(ln D0), the first-order
error; the interval is asymmetric in D0 (``D0_interval_cm2_s``).
:meth:`ArrheniusFit.predict` propagates the full covariance to D(T).

k_B is :data:`lidiff_helpers.core.units.KB_EV_PER_K` (from :mod:`ase.units`), re-exported
here as :data:`K_B_EV_PER_K`.

Table 3 (:func:`table3`) follows the study: its D(450 K) and D(500 K) are means over the MD
replicas at that temperature with their spread (:func:`replica_statistics`); the fit's
prediction D0 exp(-Ea / k_B T) is a separate column (``D_<T>K_fit_cm2_s``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.core.reference import TABLE3
from lidiff_helpers.core.units import KB_EV_PER_K

__all__ = [
    "EA_RESOLVED_MAX_ERR_EV",
    "K_B_EV_PER_K",
    "ArrheniusFit",
    "ArrheniusPrediction",
    "ReplicaStatistics",
    "arrhenius_D_cm2_s",
    "fit_arrhenius",
    "fit_by_model",
    "replica_statistics",
    "table3",
]

#: an activation energy whose 1-sigma error exceeds this (eV) is "not resolved": tables say
#: so and figures draw its points without the fitted line
EA_RESOLVED_MAX_ERR_EV = 0.1

#: Boltzmann constant, eV/K (the one of :mod:`lidiff_helpers.core.units`; old name)
K_B_EV_PER_K = KB_EV_PER_K


def arrhenius_D_cm2_s(temperature_K, Ea_eV: float, D0_cm2_s: float):
    """D = D0 exp(-Ea / (k_B T)) in cm^2/s (Eq. 3 of the study)."""
    T = np.asarray(temperature_K, dtype=float)
    out = D0_cm2_s * np.exp(-Ea_eV / (K_B_EV_PER_K * T))
    return float(out) if out.ndim == 0 else out


class ArrheniusPrediction(NamedTuple):
    """D (cm^2/s) predicted by a fit, with its propagated standard error."""

    D_cm2_s: np.ndarray | float
    D_err_cm2_s: np.ndarray | float


@dataclass(frozen=True, eq=False)
class ArrheniusFit:
    """Result of an Arrhenius fit.

    Attributes
    ----------
    Ea_eV, Ea_err_eV : activation energy and its standard error, eV
    D0_cm2_s, D0_err_cm2_s : pre-exponential factor and its first-order error, cm^2/s
    ln_D0 : natural log of D0 in cm^2/s
    covariance : 2x2 covariance of (ln D0 [ln cm^2/s], Ea [eV])
    n_points : number of temperatures fitted
    chi2_reduced : reduced chi^2 of a weighted fit (nan unweighted or with 2 points)
    birge_scaled : whether the covariance was multiplied by chi2_reduced
    T_K, D_cm2_s, D_err_cm2_s : the fitted data (errors may be None)
    """

    Ea_eV: float
    Ea_err_eV: float
    D0_cm2_s: float
    D0_err_cm2_s: float
    ln_D0: float
    covariance: np.ndarray
    n_points: int
    chi2_reduced: float = float("nan")
    birge_scaled: bool = False
    T_K: np.ndarray | None = None
    D_cm2_s: np.ndarray | None = None
    D_err_cm2_s: np.ndarray | None = None

    @classmethod
    def from_parameters(cls, Ea_eV: float, D0_cm2_s: float, Ea_err_eV: float = 0.0,
                        D0_err_cm2_s: float = 0.0) -> ArrheniusFit:
        """A fit object from published parameters (errors taken as uncorrelated)."""
        sig_ln = D0_err_cm2_s / D0_cm2_s if D0_cm2_s else 0.0
        cov = np.diag([sig_ln ** 2, float(Ea_err_eV) ** 2])
        return cls(Ea_eV=float(Ea_eV), Ea_err_eV=float(Ea_err_eV), D0_cm2_s=float(D0_cm2_s),
                   D0_err_cm2_s=float(D0_err_cm2_s), ln_D0=math.log(D0_cm2_s), covariance=cov,
                   n_points=0)

    @property
    def D0_interval_cm2_s(self) -> tuple[float, float]:
        """exp(ln D0 -/+ sigma): the one-sigma interval of D0, cm^2/s."""
        s = math.sqrt(self.covariance[0, 0])
        return (math.exp(self.ln_D0 - s), math.exp(self.ln_D0 + s))

    def predict(self, temperature_K) -> ArrheniusPrediction:
        """D(T) in cm^2/s and its standard error propagated from the covariance.

        Parameters
        ----------
        temperature_K : float or array, K
        """
        T = np.asarray(temperature_K, dtype=float)
        x = 1.0 / (K_B_EV_PER_K * T)
        D = np.exp(self.ln_D0 - self.Ea_eV * x)
        c = self.covariance
        var = c[0, 0] + x ** 2 * c[1, 1] - 2 * x * c[0, 1]
        err = D * np.sqrt(np.maximum(var, 0.0))
        if T.ndim == 0:
            return ArrheniusPrediction(float(D), float(err))
        return ArrheniusPrediction(D, err)

    def as_row(self) -> dict:
        return {"Ea_eV": self.Ea_eV, "Ea_err_eV": self.Ea_err_eV, "D0_cm2_s": self.D0_cm2_s,
                "D0_err_cm2_s": self.D0_err_cm2_s, "n_temperatures": self.n_points,
                "chi2_reduced": self.chi2_reduced}


def fit_arrhenius(T_K: Sequence[float], D_cm2_s: Sequence[float],
                  D_err_cm2_s: Sequence[float] | None = None, *,
                  birge: bool = True) -> ArrheniusFit:
    """Weighted least-squares fit of ln D against 1/(k_B T) (Eq. 3 of the study).

    Parameters
    ----------
    T_K : temperatures, K (at least 2 distinct)
    D_cm2_s : diffusion coefficients, cm^2/s (> 0)
    D_err_cm2_s : their standard errors, cm^2/s; None for an unweighted fit
    birge : scale the covariance by the reduced chi^2 when it exceeds 1

    Returns
    -------
    ArrheniusFit
        ``Ea_eV``, ``Ea_err_eV``, ``D0_cm2_s``, ``D0_err_cm2_s``, ``covariance`` and
        :meth:`~ArrheniusFit.predict`.

    Raises
    ------
    ParameterError
        (a ValueError) for non-positive D or errors, or fewer than two distinct temperatures.
    """
    T = np.asarray(T_K, dtype=float)
    D = np.asarray(D_cm2_s, dtype=float)
    if T.shape != D.shape or T.ndim != 1:
        raise ParameterError("T_K and D_cm2_s must be 1-D and the same length")
    if np.any(D <= 0) or np.any(T <= 0):
        raise ParameterError(f"D and T must be positive (D = {D.tolist()})")
    if np.unique(T).size < 2:
        raise ParameterError("an Arrhenius fit needs at least two distinct temperatures")
    x = 1.0 / (K_B_EV_PER_K * T)
    y = np.log(D)
    X = np.column_stack([np.ones_like(x), -x])
    n = T.size
    chi2_red = float("nan")
    scaled = False
    if D_err_cm2_s is not None:
        E = np.asarray(D_err_cm2_s, dtype=float)
        if E.shape != D.shape or np.any(~np.isfinite(E)) or np.any(E <= 0):
            raise ParameterError(f"D_err_cm2_s must be positive and finite (got {E.tolist()})")
        w = (D / E) ** 2
        A = X.T @ (w[:, None] * X)
        cov = np.linalg.inv(A)
        beta = cov @ (X.T @ (w * y))
        resid = y - X @ beta
        if n > 2:
            chi2_red = float((w * resid ** 2).sum() / (n - 2))
            if birge and chi2_red > 1:
                cov = cov * chi2_red
                scaled = True
        err_in = E
    else:
        A = X.T @ X
        beta = np.linalg.solve(A, X.T @ y)
        resid = y - X @ beta
        s2 = float((resid ** 2).sum() / (n - 2)) if n > 2 else float("nan")
        cov = np.linalg.inv(A) * s2
        err_in = None
    ln_D0, Ea = float(beta[0]), float(beta[1])
    D0 = math.exp(ln_D0)
    return ArrheniusFit(Ea_eV=Ea, Ea_err_eV=float(math.sqrt(cov[1, 1])) if np.isfinite(cov[1, 1])
                        else float("nan"),
                        D0_cm2_s=D0, D0_err_cm2_s=D0 * math.sqrt(cov[0, 0])
                        if np.isfinite(cov[0, 0]) else float("nan"),
                        ln_D0=ln_D0, covariance=cov, n_points=n, chi2_reduced=chi2_red,
                        birge_scaled=scaled, T_K=T, D_cm2_s=D, D_err_cm2_s=err_in)


def fit_by_model(table, *, model_col: str = "model", T_col: str = "temperature_K",
                 D_col: str = "D_cm2_s", err_col: str | None = "D_err_cm2_s"
                 ) -> dict[str, ArrheniusFit]:
    """One Arrhenius fit per model of a table with one row per (model, temperature).

    Rows with D <= 0 (a noisy MSD slope of a short run) are left out: ln D does not
    exist. Models with fewer than two temperatures left are skipped. Rows with a missing
    or non-positive error are fitted unweighted (for the whole model).
    """
    fits = {}
    for model, g in table.groupby(model_col, sort=False):
        g, _ = _fittable(g, T_col, D_col)
        if g is None:
            continue
        err = None
        if err_col is not None and err_col in g and np.all(np.isfinite(g[err_col])) \
                and np.all(g[err_col] > 0):
            err = g[err_col].to_numpy()
        fits[str(model)] = fit_arrhenius(g[T_col].to_numpy(), g[D_col].to_numpy(), err)
    return fits


def _fittable(g, T_col: str, D_col: str):
    """(the rows of one model that :func:`fit_by_model` fits, None), or (None, why not)."""
    kept = g[g[D_col] > 0]
    n = kept[T_col].nunique()
    if n < 2:
        return None, (f"no fit: D > 0 at {n} of {g[T_col].nunique()} temperature(s); ln D "
                      "needs D > 0 at two or more (a short run's MSD slope can be <= 0)")
    return kept, None


def unfitted(table, *, model_col: str = "model", T_col: str = "temperature_K",
             D_col: str = "D_cm2_s") -> dict[str, str]:
    """The models :func:`fit_by_model` leaves out of a table, with the reason."""
    out = {}
    for model, g in table.groupby(model_col, sort=False):
        _, why = _fittable(g, T_col, D_col)
        if why:
            out[str(model)] = why
    return out


@dataclass(frozen=True)
class ReplicaStatistics:
    """Mean and spread of the replicas' D at one temperature (cm^2/s).

    Attributes
    ----------
    D_cm2_s : mean over replicas
    D_std_cm2_s : sample standard deviation (ddof = 1; nan for one replica)
    D_sem_cm2_s : standard error of the mean, std / sqrt(n) (nan for one replica)
    n_replicas : number of replicas (0: mean and spreads are nan)
    """

    D_cm2_s: float
    D_std_cm2_s: float
    D_sem_cm2_s: float
    n_replicas: int


def replica_statistics(D_cm2_s: Sequence[float]) -> ReplicaStatistics:
    """Mean, standard deviation and standard error of the replicas' D (cm^2/s).

    This is how the study's Table 3 gives D(450 K) and D(500 K): the mean of the
    independent MD replicas at that temperature, with their spread.
    """
    d = np.asarray(D_cm2_s, dtype=float).ravel()
    nan = float("nan")
    if d.size == 0:
        return ReplicaStatistics(nan, nan, nan, 0)
    if d.size == 1:
        return ReplicaStatistics(float(d[0]), nan, nan, 1)
    std = float(np.std(d, ddof=1))
    return ReplicaStatistics(float(d.mean()), std, std / math.sqrt(d.size), int(d.size))


def _replica_cols(replicas, model: str, temperatures_K, cols: Mapping[str, str]) -> dict:
    """``D_<T>K_*`` columns of one model from a per-run table (replica mean and spread)."""
    out = {}
    for T in temperatures_K:
        d = []
        if replicas is not None and len(replicas):
            sel = (replicas[cols["model"]].astype(str) == str(model)) \
                & np.isclose(replicas[cols["T"]].to_numpy(dtype=float), float(T))
            d = replicas.loc[sel, cols["D"]].to_numpy(dtype=float)
        st = replica_statistics(d)
        out.update({f"D_{T:g}K_cm2_s": st.D_cm2_s, f"D_{T:g}K_std_cm2_s": st.D_std_cm2_s,
                    f"D_{T:g}K_sem_cm2_s": st.D_sem_cm2_s,
                    f"D_{T:g}K_n_replicas": st.n_replicas})
    return out


def table3(fits: Mapping[str, ArrheniusFit], reference: Mapping | None = None,
           temperatures_K: Sequence[float] = (450.0, 500.0),
           aliases: Mapping[str, str] | None = None, replicas=None, *,
           model_col: str = "model", T_col: str = "temperature_K", D_col: str = "D_cm2_s"):
    """The study's Table 3 layout for our fits and replicas, with the study's values alongside.

    Parameters
    ----------
    fits : model -> fit
    reference : model -> :class:`lidiff_helpers.core.reference.ArrheniusReference`
        (default: the study's Table 3; matched case-insensitively, missing -> NaN)
    temperatures_K : temperatures of the D columns
    aliases : our model label -> study model label, where they differ (e.g. synthetic
        runs generated with the DeePMD law -> ``"deepmd"``)
    replicas : per-run table (one row per MD replica: ``model_col``, ``T_col``, ``D_col``
        in cm^2/s), from which D(T) is computed as the study did; None: those columns NaN
    model_col, T_col, D_col : its column names

    Returns
    -------
    pandas.DataFrame
        one row per fitted model, then one per study model we did not fit. Columns:
        ``Ea_eV``, ``Ea_err_eV``, ``D0_cm2_s``, ``D0_err_cm2_s`` (the fit);
        ``D_<T>K_cm2_s`` (mean of the replicas at T, as the study's Table 3),
        ``D_<T>K_std_cm2_s`` (their sample standard deviation), ``D_<T>K_sem_cm2_s``
        (standard error), ``D_<T>K_n_replicas``; ``D_<T>K_fit_cm2_s`` and
        ``D_<T>K_fit_err_cm2_s`` (the fit's D0 exp(-Ea / k_B T), propagated error); and
        ``study_*`` counterparts with the study's printed uncertainties (``*_err``).
    """
    import pandas as pd

    ref = {k.lower(): v for k, v in (TABLE3 if reference is None else reference).items()}
    aliases = {str(k).lower(): str(v).lower() for k, v in (aliases or {}).items()}
    cols = {"model": model_col, "T": T_col, "D": D_col}
    rows, matched = [], set()
    for model, fit in fits.items():
        row = {"model": model, **fit.as_row(), **_replica_cols(replicas, model, temperatures_K,
                                                               cols)}
        for T in temperatures_K:
            p = fit.predict(T)
            row[f"D_{T:g}K_fit_cm2_s"] = p.D_cm2_s
            row[f"D_{T:g}K_fit_err_cm2_s"] = p.D_err_cm2_s
        key = aliases.get(str(model).lower(), str(model).lower())
        r = ref.get(key)
        if r is not None:
            matched.add(key)
        row["study_model"] = r.model if r is not None else ""
        row.update(_study_cols(r, temperatures_K))
        rows.append(row)
    for key, r in ref.items():
        if key not in matched:
            rows.append({"model": "", "study_model": r.model, **_study_cols(r, temperatures_K)})
    out = pd.DataFrame(rows)
    for col in FIT_COLUMNS:   # also when no model could be fitted
        if col not in out:
            out.insert(min(len(out.columns), 1 + FIT_COLUMNS.index(col)), col, float("nan"))
    return out


#: the fit's columns of :func:`table3` (present even when no model was fitted)
FIT_COLUMNS = ("Ea_eV", "Ea_err_eV", "D0_cm2_s", "D0_err_cm2_s")


def _study_cols(r, temperatures_K) -> dict:
    """The study's printed values and uncertainties (NaN where none is printed)."""
    def val(x):
        return float("nan") if x is None else x

    out = {"study_Ea_eV": val(r.Ea_eV if r else None),
           "study_Ea_err_eV": val(r.Ea_err_eV if r else None),
           "study_D0_cm2_s": val(r.D0_cm2_s if r else None),
           "study_D0_err_cm2_s": val(getattr(r, "D0_err_cm2_s", None) if r else None)}
    for T in temperatures_K:
        out[f"study_D_{T:g}K_cm2_s"] = val(r.D_at_cm2_s(T) if r else None)
        err = r.D_err_at_cm2_s(T) if r is not None and hasattr(r, "D_err_at_cm2_s") else None
        out[f"study_D_{T:g}K_err_cm2_s"] = val(err)
    return out
