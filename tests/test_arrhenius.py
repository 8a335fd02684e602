"""Arrhenius fits: known parameters recovered, the study's Table 3 reproduced."""

from __future__ import annotations

import numpy as np
import pytest

from lidiff_helpers.analysis import arrhenius
from lidiff_helpers.analysis.arrhenius import K_B_EV_PER_K, ArrheniusFit, fit_arrhenius
from lidiff_helpers.core import reference

T_K = np.array([300.0, 350.0, 400.0, 450.0, 500.0])


def test_recovers_deepmd_parameters_from_noisy_data():
    rng = np.random.default_rng(20260101)
    D_true = arrhenius.arrhenius_D_cm2_s(T_K, 0.24, 3.3e-3)
    rel_err = 0.005
    D = D_true * np.exp(rng.normal(scale=rel_err, size=T_K.size))
    fit = fit_arrhenius(T_K, D, D * rel_err)
    assert fit.Ea_eV == pytest.approx(0.24, abs=0.005)
    assert fit.D0_cm2_s == pytest.approx(3.3e-3, rel=0.05)
    assert 0 < fit.Ea_err_eV < 0.005
    assert fit.n_points == 5
    # noisier data: D0 (an extrapolation to 1/T = 0) is much less certain than Ea, and
    # the stated errors say so
    D = D_true * np.exp(rng.normal(scale=0.03, size=T_K.size))
    fit = fit_arrhenius(T_K, D, D * 0.03)
    assert abs(fit.Ea_eV - 0.24) < 3 * fit.Ea_err_eV
    assert abs(np.log(fit.D0_cm2_s / 3.3e-3)) < 3 * np.sqrt(fit.covariance[0, 0])
    assert fit.D0_err_cm2_s / fit.D0_cm2_s > fit.Ea_err_eV / fit.Ea_eV


def test_exact_data_exact_fit_and_unweighted():
    D = arrhenius.arrhenius_D_cm2_s(T_K, 0.24, 3.3e-3)
    for err in (None, 0.05 * D):
        fit = fit_arrhenius(T_K, D, err)
        assert fit.Ea_eV == pytest.approx(0.24, abs=1e-10)
        assert fit.D0_cm2_s == pytest.approx(3.3e-3, rel=1e-9)


def test_wrong_activation_energy_is_detected():
    D = arrhenius.arrhenius_D_cm2_s(T_K, 0.30, 3.3e-3)
    fit = fit_arrhenius(T_K, D)
    assert abs(fit.Ea_eV - 0.24) > 0.05


def test_predict_reproduces_study_table3_deepmd():
    deepmd = reference.TABLE3["deepmd"]
    fit = ArrheniusFit.from_parameters(deepmd.Ea_eV, deepmd.D0_cm2_s)
    # D0 = 3.3e-3 is printed with 2 significant figures (+-1.5 %): "within rounding"
    assert fit.predict(450).D_cm2_s == pytest.approx(6.8e-6, rel=0.015)
    assert fit.predict(500).D_cm2_s == pytest.approx(12.5e-6, rel=0.015)
    assert f"{fit.predict(450).D_cm2_s:.1e}" == "6.8e-06"


def test_predict_propagates_errors():
    fit = ArrheniusFit.from_parameters(0.24, 3.3e-3, Ea_err_eV=0.01)
    p = fit.predict(450.0)
    assert p.D_err_cm2_s / p.D_cm2_s == pytest.approx(0.01 / (K_B_EV_PER_K * 450), rel=1e-9)
    arr = fit.predict(np.array([400.0, 450.0]))
    assert arr.D_cm2_s.shape == (2,) and arr.D_err_cm2_s[1] == pytest.approx(p.D_err_cm2_s)
    # a fitted covariance: prediction at the centroid is tighter than at the ends
    D = arrhenius.arrhenius_D_cm2_s(T_K, 0.24, 3.3e-3)
    f2 = fit_arrhenius(T_K, D * np.array([1.03, 0.98, 1.01, 0.97, 1.02]), 0.03 * D)
    rel = f2.predict(T_K).D_err_cm2_s / f2.predict(T_K).D_cm2_s
    assert rel[2] < rel[0] and rel[2] < rel[-1]


def test_birge_scaling_when_scatter_exceeds_errors():
    D = arrhenius.arrhenius_D_cm2_s(T_K, 0.24, 3.3e-3) * np.array([1.2, 0.8, 1.2, 0.8, 1.2])
    small = 0.01 * D
    scaled = fit_arrhenius(T_K, D, small)
    raw = fit_arrhenius(T_K, D, small, birge=False)
    assert scaled.birge_scaled and scaled.chi2_reduced > 1
    assert scaled.Ea_err_eV == pytest.approx(raw.Ea_err_eV * np.sqrt(scaled.chi2_reduced))


def test_invalid_inputs():
    with pytest.raises(ValueError, match="two distinct"):
        fit_arrhenius([450, 450], [1e-6, 2e-6])
    with pytest.raises(ValueError, match="positive"):
        fit_arrhenius([400, 450], [1e-6, -2e-6])
    with pytest.raises(ValueError, match="D_err"):
        fit_arrhenius([400, 450], [1e-6, 2e-6], [0.0, 1e-7])
    two = fit_arrhenius([400, 450], [1e-6, 2e-6])
    assert np.isnan(two.Ea_err_eV)  # two points, no errors: no uncertainty


def test_table3_layout_and_study_values():
    import pandas as pd

    D = arrhenius.arrhenius_D_cm2_s(T_K, 0.24, 3.3e-3)
    df = pd.DataFrame({"model": "ours", "temperature_K": T_K, "D_cm2_s": D,
                       "D_err_cm2_s": 0.05 * D})
    fits = arrhenius.fit_by_model(df)
    t3 = arrhenius.table3(fits, aliases={"ours": "deepmd"})
    row = t3[t3["model"] == "ours"].iloc[0]
    assert row["study_model"] == "deepmd"
    assert row["study_Ea_eV"] == 0.24 and row["study_D_450K_cm2_s"] == 6.8e-6
    assert row["D_450K_cm2_s"] == pytest.approx(arrhenius.arrhenius_D_cm2_s(450, 0.24, 3.3e-3))
    others = set(t3["study_model"]) - {"deepmd"}
    assert others == {"mace-mpa-0", "ft200-pt100"}
    assert reference.TABLE3["mace-mpa-0"].Ea_err_eV == 0.015
    assert reference.STUDY.doi == "10.1088/2515-7655/ae6c5a"


def test_noisy_nonpositive_D_is_left_out_of_fit_and_figure_not_a_crash():
    """Short quick-profile runs can give a negative MSD slope: Figure 2 and the fit must
    leave that point out and say so, not raise from deep inside matplotlib."""
    import pandas as pd

    from lidiff_helpers.analysis.arrhenius import fit_by_model
    from lidiff_helpers.figures import diffusion as figures_diffusion

    T = np.array([800.0, 900.0, 1000.0, 1100.0])
    D = 3.3e-3 * np.exp(-0.24 / (K_B_EV_PER_K * T))
    D[2] = -3.4e-5
    tab = pd.DataFrame({"model": "m", "temperature_K": T, "D_cm2_s": D,
                        "D_err_cm2_s": np.abs(D) * 0.1})
    fits = fit_by_model(tab)
    assert fits["m"].Ea_eV == pytest.approx(0.24, abs=1e-6)      # the three good points
    fig = figures_diffusion.plot_arrhenius(tab, fits, synthetic=False)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("m 1000 K" in t for t in texts), texts
    lo, hi = fig.axes[0].get_xlim()
    assert lo < 1000 / 1100 and hi > 1000 / 800                  # the data are in view
