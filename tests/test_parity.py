"""DFT parity metrics and the energy-offset rule (lidiff_helpers.analysis.parity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes

from lidiff_helpers.analysis import parity
from lidiff_helpers.io import data

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


def test_rmse_mae_hand_computed():
    pred, ref = [1.0, 2.0, 3.0, 5.0], [1.0, 1.0, 1.0, 1.0]
    # differences 0, 1, 2, 4
    assert parity.rmse(pred, ref) == pytest.approx(np.sqrt((0 + 1 + 4 + 16) / 4))
    assert parity.mae(pred, ref) == pytest.approx((0 + 1 + 2 + 4) / 4)
    assert parity.rmse(np.zeros((2, 3)), np.ones((2, 3))) == pytest.approx(1.0)
    assert np.isnan(parity.rmse([], []))


class Shifted(Calculator):
    """Returns the frame's DFT labels shifted by known amounts (and counts its calls)."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, labels, de_per_atom, df, ds_GPa):
        super().__init__()
        self.labels, self.de, self.df, self.ds, self.calls = labels, de_per_atom, df, ds_GPa, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        k = int(np.argmin([abs(lab[0] - atoms.positions[0, 0]) for lab in self.labels]))
        _, e, f, s, kind = self.labels[k]
        n = len(atoms)
        de = self.de(atoms, k) if callable(self.de) else self.de[kind]
        self.results = {"energy": e + n * de, "free_energy": e + n * de,
                        "forces": f + self.df[kind],
                        "stress": parity._voigt(s) + self.ds[kind] * units.GPa}


def _frames(n_bulk=2, n_int=2):
    rng = np.random.default_rng(0)
    out, labels = [], []
    for k in range(n_bulk + n_int):
        kind = "bulk" if k < n_bulk else "interstitial"
        n = 4 if kind == "bulk" else 5
        at = Atoms("Li" * (n - 2) + "F" * 2, positions=rng.uniform(0, 5, (n, 3)),
                   cell=[5.0] * 3, pbc=True)
        at.positions[0, 0] = float(k)          # lets the fake calculator find its labels
        e = -500.0 * n + rng.normal()
        f = rng.normal(size=(n, 3))
        s = np.diag(rng.normal(size=3)) * 0.01
        at.info.update(REF_energy=e, REF_stress=s, kind=kind, hash=f"h{k}")
        at.arrays["REF_forces"] = f
        out.append(at)
        labels.append((float(k), e, f, s, kind))
    return out, labels


def test_metrics_known_errors_per_kind():
    frames, labels = _frames()
    calc = Shifted(labels, de_per_atom={"bulk": 0.010, "interstitial": -0.020},
                   df={"bulk": 0.1, "interstitial": 0.3}, ds_GPa={"bulk": 1.0, "interstitial": 2.0})
    pred = parity.predict(calc, frames, progress=False)
    off = parity.decide_energy_offset(pred, mode="keep")
    rows = {r["kind"]: r for r in parity.parity_metrics(pred, off)}
    assert rows["bulk"]["E_rmse_meV_atom"] == pytest.approx(10.0)
    assert rows["interstitial"]["E_mae_meV_atom"] == pytest.approx(20.0)
    assert rows["bulk"]["F_rmse_meV_A"] == pytest.approx(100.0)
    assert rows["interstitial"]["F_mae_meV_A"] == pytest.approx(300.0)
    assert rows["bulk"]["S_rmse_GPa"] == pytest.approx(1.0)
    assert rows["interstitial"]["S_rmse_GPa"] == pytest.approx(2.0)
    assert rows["all"]["n_frames"] == 4
    assert rows["all"]["E_rmse_meV_atom"] == pytest.approx(np.sqrt((2 * 10 ** 2 + 2 * 20 ** 2) / 4))


def test_offset_removed_only_when_the_reference_differs():
    frames, labels = _frames()
    zero = {"bulk": 0.0, "interstitial": 0.0}
    # a foreign reference: +500 eV/atom, plus +-1 meV/atom of real error within each kind
    far = Shifted(labels, de_per_atom=lambda at, k: 500.0 + (0.001 if k % 2 else -0.001),
                  df=zero, ds_GPa=zero)
    pred = parity.predict(far, frames, progress=False)
    off = parity.decide_energy_offset(pred)
    assert off.applied and off.method == "offset magnitude"
    assert off.offset_eV_atom == pytest.approx(500.0, abs=1e-6)
    rows = {r["kind"]: r for r in parity.parity_metrics(pred, off)}
    for kind in ("bulk", "interstitial", "all"):
        assert rows[kind]["E_rmse_meV_atom"] == pytest.approx(1.0, rel=1e-6)
    assert off.short().startswith("removed per composition")
    # same model, removal disabled: the raw 500 eV/atom error shows
    kept = parity.decide_energy_offset(pred, mode="keep")
    assert not kept.applied and kept.method == "requested"
    assert parity.parity_metrics(pred, kept)[2]["E_rmse_meV_atom"] == pytest.approx(5e5, rel=1e-4)

    # the study's reference: a 5 meV/atom bias is an error and stays in the metrics
    near = Shifted(labels, de_per_atom={"bulk": 0.005, "interstitial": 0.005}, df=zero,
                   ds_GPa=zero)
    pred2 = parity.predict(near, frames, progress=False)
    off2 = parity.decide_energy_offset(pred2)
    assert not off2.applied and off2.offset_eV_atom == pytest.approx(0.005)
    assert off2.short().startswith("not removed")
    assert parity.parity_metrics(pred2, off2)[2]["E_rmse_meV_atom"] == pytest.approx(5.0)
    forced = parity.decide_energy_offset(pred2, mode="remove")
    assert forced.applied and parity.parity_metrics(pred2, forced)[2]["E_rmse_meV_atom"] < 1e-6
    with pytest.raises(ValueError, match="mode"):
        parity.decide_energy_offset(pred2, mode="sometimes")


def test_offset_is_per_composition():
    """A model on another reference per element (Li +200, F +800 eV/atom) and otherwise
    exact: per-composition removal leaves no error; one constant for both compositions
    would leave the ~1 eV/atom composition artefact."""
    frames, labels = _frames()
    zero = {"bulk": 0.0, "interstitial": 0.0}

    def per_element(atoms, k):
        n_li = atoms.get_chemical_symbols().count("Li")
        return (200.0 * n_li + 800.0 * (len(atoms) - n_li)) / len(atoms)

    pred = parity.predict(Shifted(labels, per_element, zero, zero), frames, progress=False)
    off = parity.decide_energy_offset(pred)
    assert off.applied
    assert off.by_kind_eV_atom["bulk"] == pytest.approx((2 * 200 + 2 * 800) / 4)
    assert off.by_kind_eV_atom["interstitial"] == pytest.approx((3 * 200 + 2 * 800) / 5)
    for r in parity.parity_metrics(pred, off):
        assert r["E_rmse_meV_atom"] == pytest.approx(0.0, abs=1e-6)
    one = parity.predict(Shifted(labels, per_element, zero, zero), frames[:1], progress=False)
    rows = parity.parity_metrics(one, parity.decide_energy_offset(one))
    assert np.isnan(rows[0]["E_rmse_meV_atom"])          # 1 frame, 1 offset: no information
    assert np.isfinite(rows[0]["F_rmse_meV_A"])
    single = np.array([off.offset_eV_atom] * len(pred))    # one constant: what is avoided
    ep, er = pred.energy_per_atom_eV()
    assert parity.rmse(ep - single, er) > 10.0


def test_offset_decision_from_registry_metadata_and_e0s():
    frames, labels = _frames()
    far = Shifted(labels, de_per_atom={"bulk": 300.0, "interstitial": 300.0},
                  df={"bulk": 0.0, "interstitial": 0.0}, ds_GPa={"bulk": 0.0, "interstitial": 0.0})
    pred = parity.predict(far, frames, progress=False)
    study = parity.decide_energy_offset(pred, energy_reference="study", e0s=data.E0S_EV)
    assert not study.applied and study.method == "registry metadata"
    assert study.metadata_agrees is True
    foreign = parity.decide_energy_offset(pred, energy_reference="foreign")
    assert foreign.applied
    # magnitude rule with E0s that contradict it: reported, not silently trusted
    odd = parity.decide_energy_offset(pred, e0s=data.E0S_EV)
    assert odd.applied and odd.metadata_agrees is False and "equal the study" in odd.reason
    vasp_like = parity.decide_energy_offset(pred, e0s={"Li": -3.5, "F": -1.9})
    assert vasp_like.metadata_agrees is True and "differ" in vasp_like.reason
    with pytest.raises(ValueError, match="energy_reference"):
        parity.decide_energy_offset(pred, energy_reference="vasp")


def test_predict_cache_resumes(tmp_path):
    frames, labels = _frames(3, 3)
    calc = Shifted(labels, {"bulk": 0.0, "interstitial": 0.0}, {"bulk": 0.0, "interstitial": 0.0},
                   {"bulk": 0.0, "interstitial": 0.0})
    cache = tmp_path / "p.npz"
    parity.predict(calc, frames[:2], cache=cache, cache_key="m1", progress=False)
    assert calc.calls == 2                                            # one call per frame
    p = parity.predict(calc, frames, cache=cache, cache_key="m1", progress=False)
    assert calc.calls == 6                                            # only the 4 new frames ran
    calls_before = calc.calls
    p2 = parity.predict(calc, frames, cache=cache, cache_key="m1", progress=False)
    assert calc.calls == calls_before                                 # all cached
    np.testing.assert_allclose(p2.forces_eV_A, p.forces_eV_A)
    parity.predict(calc, frames[:1], cache=cache, cache_key="other-model", progress=False)
    assert calc.calls > calls_before                                  # key change recomputes


def test_select_frames_stratified_and_seeded():
    frames, _ = _frames(5, 10)
    sel = parity.select_frames(frames, 6, seed=1)
    kinds = [a.info["kind"] for a in sel]
    assert kinds.count("bulk") == 3 and kinds.count("interstitial") == 3
    assert [a.info["hash"] for a in sel] == [a.info["hash"]
                                             for a in parity.select_frames(frames, 6, seed=1)]
    assert len(parity.select_frames(frames, None)) == 15
    few_bulk, _ = _frames(1, 10)
    assert [a.info["kind"] for a in parity.select_frames(few_bulk, 6)].count("interstitial") == 5


def test_model_e0s_of_tiny_model_are_the_study_e0s():
    from ase.calculators.emt import EMT

    from lidiff_helpers.simulation import models

    e0s = parity.model_e0s(models.get_calculator(str(TINY), verbose=False))
    assert e0s == pytest.approx(data.E0S_EV)
    assert parity.model_e0s(EMT()) is None


def test_tiny_model_on_held_out_frames(study_data_dir):
    from lidiff_helpers.simulation import models

    frames = parity.select_frames(data.test_set(), 2, seed=0)
    assert sorted(a.info["kind"] for a in frames) == ["bulk", "interstitial"]
    calc = models.get_calculator(str(TINY), verbose=False)
    pred = parity.predict(calc, frames, progress=False)
    off = parity.decide_energy_offset(pred, e0s=parity.model_e0s(calc))
    # trained on the study's labels with its E0s: same reference, nothing removed
    assert not off.applied and off.metadata_agrees is True
    rows = parity.parity_metrics(pred, off)
    assert [r["n_frames"] for r in rows] == [1, 1, 2]
    assert all(np.isfinite(r["F_rmse_meV_A"]) for r in rows)
