"""DFT at the study's level of theory (workflows/dft_reference.py): the committed results
and the referee's bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.io.data import E0S_EV
from lidiff_helpers.training.labelling import SurrogateLabeller
from lidiff_helpers.workflows import dft_neb as dn
from lidiff_helpers.workflows import dft_reference as dr

TINY = str(Path(__file__).parent / "models" / "tiny-lif.model")


def test_a_model_refereeing_itself_gives_its_own_barrier_and_no_force_error(tmp_path):
    """Known answer: with the model itself as the referee, the 'DFT' barrier along its path
    is its own barrier and its saddle force error is zero; another referee disagrees."""
    res = dr.path_referee([TINY], tmp_path, out=tmp_path / "p.json", progress=False,
                          labeller=SurrogateLabeller.from_spec(TINY))
    r = res["rows"][0]
    assert r["status"] == "done" and r["images"] == [0, r["climbing_index"]]
    assert r["dft_barrier_along_path_eV"] == pytest.approx(r["model_barrier_eV"], abs=1e-9)
    assert r["saddle_F_rmse_meV_A"] == pytest.approx(0.0, abs=1e-9)
    assert r["dft_saddle_F_max_eV_A"] < 0.06   # the CI-NEB's saddle: fmax 0.05 eV/A
    assert json.loads((tmp_path / "p.json").read_text())["referee"] == "surrogate:tiny-lif"
    other = dr.path_referee([TINY], tmp_path, out=None, progress=False, images="all",
                            labeller=SurrogateLabeller.from_spec("embedded"))["rows"][0]
    assert other["images"] == [0, 1, 2, 3] and other["saddle_F_rmse_meV_A"] > 1.0
    assert other["dft_E_eV"][0] == 0.0 and len(other["model_E_eV"]) == 4
    with pytest.raises(ParameterError, match="saddle"):
        dr.path_referee([TINY], tmp_path, images="some", out=None)


def test_committed_e0_reproduction_matches_the_study_and_the_datasets(tmp_path):
    """data/dft/e0_reproduction.json (python -m lidiff_helpers.workflows.dft_reference e0):
    unpolarised F within 1 meV of the study's E0 in every box, Li within 2 meV from a
    14 A box on; spin-polarised atoms 0.3 eV lower (the study did not polarise them); made
    with the datasets this checkout generates (content hashes)."""
    if not dr.E0_FILE.is_file():
        pytest.skip("no committed E0 reproduction yet")
    body = json.loads(dr.E0_FILE.read_text())
    rows = body["rows"]
    for r in rows:
        assert r["study_E0_eV"] == E0S_EV[r["element"]]
        assert r["difference_meV"] == pytest.approx(1e3 * (r["E_eV"] - r["study_E0_eV"]))
    un = [r for r in rows if r["spin"] == "unpolarised"]
    assert all(abs(r["difference_meV"]) < 1.0 for r in un if r["element"] == "F")
    assert all(abs(r["difference_meV"]) < 2.0 for r in un
               if r["element"] == "Li" and r["box_A"] >= 14.0)
    assert all(r["difference_meV"] < -300.0 for r in rows if r["spin"] == "polarised")
    assert np.isfinite([r["wall_s"] for r in rows]).all()
    import shutil

    from lidiff_helpers.training import pseudopotentials as pp

    if shutil.which("ld1.x") is None:
        pytest.skip("ld1.x not installed: the datasets' hashes are not compared")
    folder = pp.generate_pseudopotentials(tmp_path / "pp")
    assert set(body["pseudopotentials"]) == set(pp.STUDY_DATASETS)
    for name, h in body["pseudopotentials"].items():
        assert h["content_sha256"] == pp.upf_content_sha256(folder / name), name


def test_label_reproduction_compares_forces_stress_and_energy(tmp_path):
    """Known answers: a referee that returns the frames' own labels reproduces them
    exactly; one that shifts every force by 10 meV/A and the energy by 2 meV/atom misses
    the targets by exactly that."""
    from ase.build import bulk

    class Echo:
        source = "echo"

        def __init__(self, dF=0.0, dE=0.0):
            self.dF, self.dE = dF, dE

        def label(self, frames, progress=False):
            out = []
            for a in frames:
                b = a.copy()
                b.arrays["REF_forces"] = a.arrays["REF_forces"] + self.dF
                b.info["REF_energy"] = a.info["REF_energy"] + self.dE * len(a)
                out.append(b)
            return out

    at = bulk("LiF", "rocksalt", a=4.08, cubic=True)
    at.arrays["REF_forces"] = np.random.default_rng(0).normal(0, 0.3, (8, 3))
    at.info.update(REF_energy=-8000.0, REF_stress=np.eye(3) * 0.01, kind="bulk")
    same = dr.label_reproduction([at], tmp_path, out=tmp_path / "l.json", labeller=Echo(),
                                 progress=False)["rows"][0]
    assert same["F_rmse_meV_A"] == 0.0 and same["E_meV_atom"] == 0.0 and same["meets_targets"]
    off = dr.label_reproduction([at], tmp_path, out=None, labeller=Echo(0.010, 0.002),
                                progress=False)["rows"][0]
    assert off["F_rmse_meV_A"] == pytest.approx(10.0) and off["E_meV_atom"] == pytest.approx(2.0)
    assert not off["meets_targets"]
    assert json.loads((tmp_path / "l.json").read_text())["rows"][0]["status"] == "done"


def test_notebook_05_reads_the_committed_referee(tmp_path, monkeypatch):
    """barriers.dft_referee: 'not computed yet' without the file; its rows, matched to the
    notebook's models by weights, with it."""
    from lidiff_helpers.simulation.model_set import ModelEntry
    from lidiff_helpers.workflows import barriers

    monkeypatch.setattr(dr, "PATH_FILE", tmp_path / "none.json")
    t = barriers.dft_referee()
    assert len(t) == 1 and t["status"][0].startswith("not computed yet")
    dr.path_referee([TINY], tmp_path, out=tmp_path / "p.json", progress=False,
                    labeller=SurrogateLabeller.from_spec(TINY))
    monkeypatch.setattr(dr, "PATH_FILE", tmp_path / "p.json")
    sha = json.loads((tmp_path / "p.json").read_text())["rows"][0]["model_sha256"]
    t = barriers.dft_referee([ModelEntry("tiny", TINY, "extra", {"sha256": sha})])
    assert t["in_this_run"][0] == "tiny" and t["status"][0] == "done"
    assert t["dft_barrier_along_path_eV"][0] == pytest.approx(t["model_barrier_eV"][0])


class _Interruptible:
    """A referee with the pw.x labeller's bookkeeping: labels cached per structure
    (``cache``, shared between runs), and at most ``budget`` new ones per run, after which
    it stops as pw.x at max_seconds does."""

    source = "surrogate:embedded (interruptible)"

    def __init__(self, cache: dict, budget: int):
        from lidiff_helpers.training.labelling import SurrogateLabeller

        self.inner, self.cache, self.budget = SurrogateLabeller.from_spec("embedded"), cache, budget

    def label(self, frames, progress=False):
        from lidiff_helpers.io.data import frame_hash
        from lidiff_helpers.training.labelling import LabellingInterrupted

        out = []
        for at in frames:
            key = frame_hash(at)
            if key not in self.cache:
                if self.budget == 0:
                    raise LabellingInterrupted(f"budget spent before {key}")
                self.budget -= 1
                self.cache[key] = self.inner.label([at])[0]
            out.append(self.cache[key].copy())
        return out


def test_dft_neb_stopped_and_started_again_ends_where_an_uninterrupted_one_does(tmp_path):
    """Known answers: (1) refereed by the model whose band it starts from, the 'DFT' NEB is
    already converged and gives that model's barrier; (2) a run stopped after every 20 new
    labels and started again replays the labels it has and ends bit for bit where an
    uninterrupted run ends; the paused result file says 'in progress'."""
    from lidiff_helpers.training.labelling import LabellingInterrupted

    own = dn.dft_neb(tmp_path, out=None, start=TINY, labeller=SurrogateLabeller.from_spec(TINY),
                     full_labeller=SurrogateLabeller.from_spec(TINY))
    start = dr.model_path(TINY, tmp_path)
    assert own["status"] == "done" and own["converged"]
    assert own["barrier_eV"] == pytest.approx(start["barrier_eV"], abs=2e-3)
    assert own["barrier_study_cutoffs_eV"] == pytest.approx(own["barrier_eV"], abs=1e-12)

    kw = {"start": TINY, "max_steps": 15}   # not converged: the replay is what is tested
    whole = dn.dft_neb(tmp_path, out=None, labeller=_Interruptible({}, 10 ** 6), **kw)
    cache, out, pauses = {}, tmp_path / "neb.json", 0
    while True:
        try:
            parts = dn.dft_neb(tmp_path, out=out, labeller=_Interruptible(cache, 20), **kw)
            break
        except LabellingInterrupted:
            pauses += 1
            assert json.loads(out.read_text())["status"] == "in progress"
    assert pauses >= 2 and parts["labels_this_run"] > 20
    assert parts["barrier_eV"] == whole["barrier_eV"] and parts["positions"] == whole["positions"]
    assert json.loads(out.read_text())["status"] == "done"
    assert whole["barrier_eV"] != pytest.approx(start["barrier_eV"], abs=1e-3)


def test_dft_neb_with_one_climbing_image_and_the_final_state_by_symmetry(tmp_path):
    """Known answer: refereed by the model whose band it starts from, a one-image CI-NEB
    (the symmetric knock-off's saddle lies midway) with the final state made by inverting
    the relaxed initial state gives the model's barrier, equal end-state energies, and says
    how the final state was made; an image count beyond the start band is refused."""
    own = dn.dft_neb(tmp_path, out=None, start=TINY, n_images=1,
                     labeller=SurrogateLabeller.from_spec(TINY),
                     full_labeller=SurrogateLabeller.from_spec(TINY))
    start = dr.model_path(TINY, tmp_path)
    assert own["n_images"] == 1 and len(own["energies_eV"]) == 3 and own["converged"]
    assert own["barrier_eV"] == pytest.approx(start["barrier_eV"], abs=2e-3)
    assert abs(own["endpoint_asymmetry_eV"]) < 1e-4
    assert own["final_state"].startswith("the DFT-relaxed initial state inverted")
    relaxed = dn.dft_neb(tmp_path, out=None, start=TINY, n_images=1, symmetric_final=False,
                         labeller=SurrogateLabeller.from_spec(TINY),
                         full_labeller=SurrogateLabeller.from_spec(TINY))
    assert relaxed["final_state"] == "relaxed in DFT"
    assert relaxed["barrier_eV"] == pytest.approx(own["barrier_eV"], abs=2e-3)
    with pytest.raises(ParameterError, match="n_images must be 1..3"):
        dn.dft_neb(tmp_path, out=None, start=TINY, n_images=5,
                   labeller=SurrogateLabeller.from_spec(TINY))


def test_command_line_passes_each_subcommand_its_own_options(monkeypatch):
    """python -m lidiff_helpers.workflows.dft_reference: paths, neb and labels get the
    options they take (a wrong keyword is a TypeError before any pw.x run)."""
    import inspect

    seen = {}

    def fake(name, fn, ret):
        sig = inspect.signature(fn)

        def call(*args, **kw):
            sig.bind(*args, **kw)
            seen[name] = kw
            return ret
        return call

    row = {"model": "m", "model_barrier_eV": 0.1, "status": "done",
           "dft_barrier_along_path_eV": 0.2}
    monkeypatch.setattr(dr, "path_referee", fake("paths", dr.path_referee, {"rows": [row]}))
    monkeypatch.setattr(dn, "dft_neb", fake("neb", dn.dft_neb, {"barrier_eV": 0.2,
                                                                "converged": True,
                                                                "pw_cpu_s": 1.0}))
    monkeypatch.setattr(dr, "label_reproduction", fake("labels", dr.label_reproduction,
                                                       {"rows": []}))
    monkeypatch.setattr(dr, "reproduction_frames", lambda *a: [])
    assert dr.main(["paths", "--models", "m", "--state", ""]) == 0
    assert seen["paths"]["state"] is None
    assert dr.main(["neb", "--n-images", "1", "--relax-final"]) == 0
    assert seen["neb"]["n_images"] == 1 and seen["neb"]["symmetric_final"] is False
    assert dr.main(["labels"]) == 0 and "state" in seen["labels"]


def test_committed_dft_neb_agrees_with_its_committed_pw_runs():
    """The committed DFT NEB's barriers are the committed pw.x energies of its images: each
    image (by content hash) has a finished run at the study's cutoffs in
    ``data/dft/pw-labels/neb-pw-study`` (110 / 440 Ry in its input) and one at the search's
    in ``neb-pw-<cutoffs>``; the energies there give the recorded barriers, the climbing
    image is the highest, the end states agree by symmetry, and the study-level barrier is
    what tables and figures show."""
    from ase import Atoms

    from lidiff_helpers.io.data import frame_hash

    n = json.loads(dn.NEB_FILE.read_text()) if dn.NEB_FILE.is_file() else None
    if not n or n["status"] != "done":
        pytest.skip("no finished DFT NEB committed yet")
    search = dr.STATE / "neb-pw-{:g}-{:g}".format(*n["cutoffs_Ry"])

    def energies(folder: Path) -> list[float]:
        out = []
        for pos in n["positions"]:
            at = Atoms(numbers=n["numbers"], positions=pos, cell=n["cell"], pbc=True)
            at.wrap()                              # as the labeller names its runs
            h = frame_hash(at)
            (run,) = folder.glob(f"{h}-*")       # exactly one finished run per image
            assert (run / "labels.npz").is_file()
            out.append(float(np.load(run / "labels.npz")["energy_eV"]))
        return out

    e = energies(dr.STATE / "neb-pw-study")
    assert all("ecutwfc          = 110.0" in p.read_text()
               for p in (dr.STATE / "neb-pw-study").glob("*/espresso.pwi"))
    k = n["climbing_index"]
    assert e[k] - e[0] == pytest.approx(n["barrier_study_cutoffs_eV"], abs=1e-9)
    es = energies(search)
    assert es[k] - es[0] == pytest.approx(n["barrier_eV"], abs=1e-9)
    assert max(es) == es[k] and abs(es[-1] - es[0]) < 1e-3 and n["converged"]
    assert n["climbing_fmax_eV_A"] <= n["fmax_eV_A"]
    own = dn.study_level_barrier()
    assert own["barrier_eV"] == n["barrier_study_cutoffs_eV"] != n["barrier_eV"]
