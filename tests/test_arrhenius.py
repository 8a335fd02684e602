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
    assert row["D_450K_fit_cm2_s"] == pytest.approx(
        arrhenius.arrhenius_D_cm2_s(450, 0.24, 3.3e-3))
    # no per-run table given: the replica columns are empty, not the fit in disguise
    assert np.isnan(row["D_450K_cm2_s"]) and row["D_450K_n_replicas"] == 0
    assert np.isnan(row["study_D_450K_err_cm2_s"])        # DeePMD: printed without errors
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


def test_replica_statistics_known_answer():
    st = arrhenius.replica_statistics([1e-6, 2e-6, 3e-6, 6e-6])
    assert st.D_cm2_s == pytest.approx(3e-6) and st.n_replicas == 4
    std = np.sqrt(((np.array([1, 2, 3, 6]) - 3.0) ** 2).sum() / 3) * 1e-6   # ddof = 1
    assert st.D_std_cm2_s == pytest.approx(std) and st.D_sem_cm2_s == pytest.approx(std / 2)
    one = arrhenius.replica_statistics([4e-6])
    assert one.D_cm2_s == 4e-6 and np.isnan(one.D_std_cm2_s) and one.n_replicas == 1
    assert arrhenius.replica_statistics([]).n_replicas == 0


def test_table3_D_columns_are_replica_means_and_the_fit_is_separate():
    """Table 3's D(450 K), D(500 K) are the replicas' mean and spread at that temperature
    (as the study's); D0 exp(-Ea/kT) of the fit is its own column and differs."""
    import pandas as pd

    # four replicas per temperature, set so that mean and spread are known:
    # 450 K: mean 3.45e-6, deviations +-0.5e-6 and +-0.3e-6; 500 K: mean 7.3e-6
    dev = np.array([0.5, -0.5, 0.3, -0.3]) * 1e-6
    runs = pd.DataFrame({"model": "m", "temperature_K": np.repeat([400.0, 450.0, 500.0], 4),
                         "replica": np.tile(np.arange(4), 3),
                         "D_cm2_s": np.concatenate([1.5e-6 + dev, 3.45e-6 + dev,
                                                    7.3e-6 + 2 * dev])})
    rep = runs.groupby(["model", "temperature_K"], as_index=False)["D_cm2_s"].mean()
    rep["D_err_cm2_s"] = 0.1 * rep["D_cm2_s"]
    fits = arrhenius.fit_by_model(rep)
    t3 = arrhenius.table3(fits, replicas=runs)
    row = t3[t3["model"] == "m"].iloc[0]
    std450 = np.sqrt((dev ** 2).sum() / 3)
    assert row["D_450K_cm2_s"] == pytest.approx(3.45e-6, rel=1e-12)
    assert row["D_500K_cm2_s"] == pytest.approx(7.3e-6, rel=1e-12)
    assert row["D_450K_std_cm2_s"] == pytest.approx(std450, rel=1e-12)
    assert row["D_500K_std_cm2_s"] == pytest.approx(2 * std450, rel=1e-12)
    assert row["D_450K_sem_cm2_s"] == pytest.approx(std450 / 2, rel=1e-12)
    assert row["D_450K_n_replicas"] == 4 and row["D_500K_n_replicas"] == 4
    f = fits["m"]
    for T in (450.0, 500.0):
        expect = f.D0_cm2_s * np.exp(-f.Ea_eV / (K_B_EV_PER_K * T))
        assert row[f"D_{T:g}K_fit_cm2_s"] == pytest.approx(expect, rel=1e-12)
        assert row[f"D_{T:g}K_fit_err_cm2_s"] == pytest.approx(f.predict(T).D_err_cm2_s)
    # three points off a straight line: the fit's D(450 K) is not the replica mean
    assert abs(row["D_450K_fit_cm2_s"] / row["D_450K_cm2_s"] - 1) > 0.01
    # a temperature without runs: NaN, never the fit
    t3b = arrhenius.table3(fits, replicas=runs, temperatures_K=(550.0,))
    assert np.isnan(t3b.iloc[0]["D_550K_cm2_s"]) and t3b.iloc[0]["D_550K_n_replicas"] == 0


def test_reference_table3_is_the_study_as_printed():
    """The study's Table 3 (Alghamdi et al. 2026) with its printed uncertainties."""
    mpa, ft, dp = (reference.TABLE3[k] for k in ("mace-mpa-0", "ft200-pt100", "deepmd"))
    assert (mpa.Ea_eV, mpa.Ea_err_eV, mpa.D0_cm2_s, mpa.D0_err_cm2_s) == (0.22, 0.015, 1.1e-3,
                                                                          0.42e-3)
    assert (mpa.D_450K_cm2_s, mpa.D_450K_err_cm2_s) == (3.45e-6, 0.50e-6)
    assert (mpa.D_500K_cm2_s, mpa.D_500K_err_cm2_s) == (7.3e-6, 1.2e-6)
    assert (ft.Ea_eV, ft.Ea_err_eV, ft.D0_cm2_s, ft.D0_err_cm2_s) == (0.20, 0.004, 1.1e-3,
                                                                      0.13e-3)
    assert (ft.D_450K_cm2_s, ft.D_450K_err_cm2_s) == (6.4e-6, 0.61e-6)
    assert (ft.D_500K_cm2_s, ft.D_500K_err_cm2_s) == (10.5e-6, 0.43e-6)
    assert (dp.Ea_eV, dp.D0_cm2_s, dp.D_450K_cm2_s, dp.D_500K_cm2_s) == (0.24, 3.3e-3, 6.8e-6,
                                                                         12.5e-6)
    assert dp.Ea_err_eV is None and dp.D0_err_cm2_s is None and dp.D_450K_err_cm2_s is None
    assert all(r.table == "Table 3" and r.source is reference.STUDY
               for r in reference.TABLE3.values())
    assert mpa.D_err_at_cm2_s(500) == 1.2e-6 and mpa.D_err_at_cm2_s(400) is None
    # the printed D are replica means, not the fit: MPA-0's D0 exp(-Ea/kT) is 3.78e-6 and
    # 6.67e-6 cm^2/s where the table prints 3.45e-6 and 7.3e-6
    fit = ArrheniusFit.from_parameters(mpa.Ea_eV, mpa.D0_cm2_s)
    assert fit.predict(450).D_cm2_s == pytest.approx(3.78e-6, rel=2e-3)
    assert fit.predict(500).D_cm2_s == pytest.approx(6.67e-6, rel=2e-3)
    t3 = arrhenius.table3({})
    row = t3[t3["study_model"] == "mace-mpa-0"].iloc[0]
    assert row["study_D0_err_cm2_s"] == 0.42e-3 and row["study_D_450K_err_cm2_s"] == 0.50e-6


def test_barrier_references_are_the_studys_citations():
    """Sec. 3 of the study: CI-NEB 0.25 eV (Zheng, 2x2x2), NEB 0.27 eV (Yildirim, same
    cell), ReaxFF 0.06 eV (De Angelis)."""
    from lidiff_helpers.core import reference

    b = reference.BARRIERS
    assert {k: (v.Ea_eV, v.cell) for k, v in b.items()} == {
        "dft-cineb-zheng": (0.25, "2x2x2"), "dft-neb-yildirim": (0.27, "2x2x2"),
        "reaxff-md": (0.06, None)}
    assert b["dft-cineb-zheng"].citation.doi == "10.1039/D0TA11444H"
    assert b["dft-neb-yildirim"].citation.doi == "10.1021/acsami.5b02904"
    assert b["reaxff-md"].citation.doi == "10.1038/s41598-023-50978-5"


def test_figure_2_draws_no_line_for_a_fit_that_is_not_resolved():
    """A fit whose Ea error exceeds EA_RESOLVED_MAX_ERR_EV is drawn as points only, its
    legend saying 'not resolved'; a resolved fit keeps its line."""
    import pandas as pd

    from lidiff_helpers.analysis.arrhenius import EA_RESOLVED_MAX_ERR_EV, fit_arrhenius
    from lidiff_helpers.figures.diffusion import plot_arrhenius

    T = np.array([400.0, 450.0, 500.0])
    good = fit_arrhenius(T, 1e-3 * np.exp(-0.24 / (8.617e-5 * T)),
                         D_err_cm2_s=1e-2 * 1e-3 * np.exp(-0.24 / (8.617e-5 * T)))
    bad = fit_arrhenius(T, np.array([2e-6, 1e-6, 3e-6]), D_err_cm2_s=np.array([2e-6] * 3))
    assert good.Ea_err_eV <= EA_RESOLVED_MAX_ERR_EV < bad.Ea_err_eV
    rows = [{"model": m, "temperature_K": t, "D_cm2_s": d, "D_err_cm2_s": 0.1 * d}
            for m, ds in (("good", good.D_cm2_s if hasattr(good, "D_cm2_s") else
                           1e-3 * np.exp(-0.24 / (8.617e-5 * T))),
                          ("bad", [2e-6, 1e-6, 3e-6])) for t, d in zip(T, ds)]
    fig = plot_arrhenius(pd.DataFrame(rows), {"good": good, "bad": bad}, synthetic=True)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(lab.startswith("fit: Ea = 0.24") for lab in labels)
    assert any(lab.startswith("bad: Ea not resolved") for lab in labels)
    assert not any("fit:" in lab and "-" in lab.split("=")[1][:3] for lab in labels)
