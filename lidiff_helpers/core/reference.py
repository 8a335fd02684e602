"""Published reference values this compendium compares against, with their sources.

A module of constants and small frozen dataclasses only: no computation, no I/O. Each
section names the publication, table and units it copies; values are transcribed as
printed (rounded as printed), never re-derived.

Sections
--------
Study, Table 3
    Arrhenius parameters and diffusivities of one interstitial Li in a 1001-atom LiF
    cell (5x5x5 rock-salt supercell + 1 Li), from NVT MD with the MACE-MPA-0 foundation
    model, the MACE model fine-tuned on 200 DeePMD-derived frames with 100 MPtrj replay
    frames (``ft200-pt100``) and the DeePMD reference potential.

(Bulk-LiF reference values are added in their own section below by their author.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "STUDY",
    "STUDY_MD_N_ATOMS",
    "STUDY_MD_N_LI",
    "STUDY_MD_SUPERCELL",
    "TABLE3",
    "TABLE3_REFERENCE_MODEL",
    "TABLE3_UNCERTAINTY_NOTE",
    "ArrheniusReference",
    "Citation",
    "table3_reference",
]


@dataclass(frozen=True)
class Citation:
    """Where a reference value comes from."""

    authors: str
    title: str
    journal: str
    year: int
    doi: str
    arxiv: str | None = None

    def short(self) -> str:
        """``First author et al., Journal (year), doi:...``"""
        first = self.authors.split(",")[0].strip()
        return f"{first} et al., {self.journal} ({self.year}), doi:{self.doi}"


#: the study this compendium reproduces
STUDY = Citation(
    authors="N. Alghamdi, P. De Angelis, P. Asinari, E. Chiavazzo",
    title=("Comparing fine-tuning strategies for machine learning force fields in "
           "lithium-ion diffusion (MACE, LiF)"),
    journal="J. Phys. Energy",
    year=2026,
    doi="10.1088/2515-7655/ae6c5a",
    arxiv="2510.05020",
)


# --------------------------------------------------------------------------------------
# Study, Table 3: Arrhenius parameters of interstitial Li diffusion in LiF
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArrheniusReference:
    """One row of the study's Table 3.

    Attributes
    ----------
    model : model label as used in this compendium
    Ea_eV : activation energy (eV), Eq. 3 of the study
    Ea_err_eV : its uncertainty as printed (eV), None where the table gives none
    D0_cm2_s : pre-exponential factor (cm^2/s)
    D_450K_cm2_s, D_500K_cm2_s : diffusion coefficients at 450 K and 500 K (cm^2/s): the
        mean over the MD replicas at that temperature (four 9 ns runs per temperature,
        Section 2.1 of the study), *not* D0 exp(-Ea / k_B T) of the fit (for MACE-MPA-0
        the fit gives 3.78e-6 and 6.67e-6 cm^2/s where the table prints 3.45e-6 and 7.3e-6)
    D0_err_cm2_s, D_450K_err_cm2_s, D_500K_err_cm2_s : their uncertainties as printed
        (cm^2/s), None where the table gives none (the DeePMD row). The study does not
        say whether a D uncertainty is the standard deviation or the standard error of
        the replicas (see :data:`TABLE3_UNCERTAINTY_NOTE`).
    table : where in the publication the row is printed
    source : the publication
    """

    model: str
    Ea_eV: float
    Ea_err_eV: float | None
    D0_cm2_s: float
    D_450K_cm2_s: float
    D_500K_cm2_s: float
    D0_err_cm2_s: float | None = None
    D_450K_err_cm2_s: float | None = None
    D_500K_err_cm2_s: float | None = None
    table: str = "Table 3"
    source: Citation = STUDY

    def D_at_cm2_s(self, temperature_K: float) -> float | None:
        """The tabulated D at 450 K or 500 K (None for any other temperature)."""
        return {450.0: self.D_450K_cm2_s, 500.0: self.D_500K_cm2_s}.get(float(temperature_K))

    def D_err_at_cm2_s(self, temperature_K: float) -> float | None:
        """The printed uncertainty of D at 450 K or 500 K (None: not printed / not tabulated)."""
        return {450.0: self.D_450K_err_cm2_s,
                500.0: self.D_500K_err_cm2_s}.get(float(temperature_K))


#: Table 3 of :data:`STUDY`, by model label, as printed (Ea in eV; D0 printed in units of
#: 1e-3 cm^2/s, D(450 K) and D(500 K) in units of 1e-6 cm^2/s; "+-" values are the printed
#: uncertainties). The DeePMD row (the study's reference [38]) is printed without
#: uncertainties.
TABLE3: dict[str, ArrheniusReference] = {
    "mace-mpa-0": ArrheniusReference("mace-mpa-0", Ea_eV=0.22, Ea_err_eV=0.015,
                                     D0_cm2_s=1.1e-3, D_450K_cm2_s=3.45e-6,
                                     D_500K_cm2_s=7.3e-6, D0_err_cm2_s=0.42e-3,
                                     D_450K_err_cm2_s=0.50e-6, D_500K_err_cm2_s=1.2e-6),
    "ft200-pt100": ArrheniusReference("ft200-pt100", Ea_eV=0.20, Ea_err_eV=0.004,
                                      D0_cm2_s=1.1e-3, D_450K_cm2_s=6.4e-6,
                                      D_500K_cm2_s=10.5e-6, D0_err_cm2_s=0.13e-3,
                                      D_450K_err_cm2_s=0.61e-6, D_500K_err_cm2_s=0.43e-6),
    "deepmd": ArrheniusReference("deepmd", Ea_eV=0.24, Ea_err_eV=None, D0_cm2_s=3.3e-3,
                                 D_450K_cm2_s=6.8e-6, D_500K_cm2_s=12.5e-6),
}

#: what the study says about Table 3's uncertainties (Section 2.1: "diffusivities were
#: extracted from multiple independent replicas: four per temperature from 9 ns
#: simulations"): it does not say whether "+-" is a standard deviation or a standard
#: error of the replicas; the compendium's Table 3 therefore gives both.
TABLE3_UNCERTAINTY_NOTE = ("Table 3 of the study prints D(450 K), D(500 K) as replica "
                           "means with a +- spread that it does not define (standard "
                           "deviation or standard error of the replicas); both are given.")

#: the study's reference potential (the dashed line of Figures 2 and 3)
TABLE3_REFERENCE_MODEL = "deepmd"

#: the study's MD cell for Table 3: 5x5x5 rock-salt LiF (500 Li + 500 F) plus one Li
STUDY_MD_SUPERCELL = 5
STUDY_MD_N_ATOMS = 1001
STUDY_MD_N_LI = 501


def table3_reference(model: str) -> ArrheniusReference | None:
    """Table 3 row for ``model`` (case-insensitive; ``None`` if the study has none)."""
    return TABLE3.get(str(model).strip().lower())


# ======================================================================================
# Bulk LiF: lattice constant, elastic constants, bulk modulus, melting point
# (notebook 01, reference rows of the Table S1-style table). Section added by the
# bulk-validation issue; everything above belongs to the diffusion reference values.
# ======================================================================================
#
# Flags, per value:
#   primary  True when the cited work is where the number was measured or computed;
#            False for handbooks, compilations, ranges summarising several works, or a
#            value whose original publication was not traced.
#   checked  True only when the number was compared with the cited document by the
#            compendium's authors. All False here: transcribed without access to the
#            originals (offline); verify before quoting them as published values.

@dataclass(frozen=True)
class BulkReference:
    """One bulk-LiF reference value (or range) with its source and reliability flags.

    Attributes
    ----------
    name : key in :data:`BULK_LIF`
    quantity : what it is, with the conditions (temperature, method)
    unit : unit of ``value`` / ``low`` / ``high``
    value : the number, or None for a range
    low, high : bounds of a range (None for a single value)
    citation : the publication, when one is cited
    source : free-text source description (always set; says what the value rests on)
    primary : the cited work is the original measurement/calculation
    checked : compared with the cited document by this compendium's authors
    """

    name: str
    quantity: str
    unit: str
    value: float | None
    source: str
    primary: bool
    checked: bool = False
    citation: Citation | None = None
    low: float | None = None
    high: float | None = None

    def display(self) -> float | str:
        """The value for a table cell: the number, or ``"low-high"`` for a range."""
        if self.value is not None:
            return self.value
        return f"{self.low:g}-{self.high:g}"

    def source_note(self) -> str:
        """``<source> [primary|not a primary source][, unchecked]``."""
        flag = "primary" if self.primary else "NOT a primary source"
        return f"{self.source} [{flag}{'' if self.checked else ', not checked against the original'}]"


#: Briscoe & Squire, ultrasonic elastic constants of LiF single crystals, 4.2-300 K
BRISCOE_SQUIRE_1957 = Citation(
    authors="C. V. Briscoe, C. F. Squire",
    title="Elastic constants of LiF from 4.2 K to 300 K",
    journal="Phys. Rev. 106, 1175",
    year=1957,
    doi="10.1103/PhysRev.106.1175",
)

#: Haas, Tran, Blaha: lattice constants of solids with semilocal functionals (PBE among them)
HAAS_TRAN_BLAHA_2009 = Citation(
    authors="P. Haas, F. Tran, P. Blaha",
    title="Calculation of the lattice constant of solids with semilocal functionals",
    journal="Phys. Rev. B 79, 085104",
    year=2009,
    doi="10.1103/PhysRevB.79.085104",
)

_C_IJ_SOURCE = "Briscoe & Squire, Phys. Rev. 106, 1175 (1957), ultrasonic, 300 K"

#: bulk-LiF reference values, by name
BULK_LIF: dict[str, BulkReference] = {
    "a_exp_RT": BulkReference(
        "a_exp_RT", "lattice constant, experiment, room temperature", "A", 4.026,
        source=("handbook/compilation value (e.g. the CRC Handbook of Chemistry and Physics; "
                "X-ray diffraction at room temperature); original measurement not traced"),
        primary=False),
    "a_PBE": BulkReference(
        "a_PBE", "lattice constant, DFT-PBE, static lattice (0 K, no zero-point motion)",
        "A", 4.06,
        source=("PBE value as specified for this compendium; of the size reported in "
                "semilocal-functional benchmarks such as Haas, Tran & Blaha, PRB 79, 085104 "
                "(2009), whose exact table entry was not checked"),
        primary=False, citation=HAAS_TRAN_BLAHA_2009),
    "C11_exp": BulkReference("C11_exp", "elastic constant C11, experiment, 300 K", "GPa",
                             111.2, source=_C_IJ_SOURCE, primary=True,
                             citation=BRISCOE_SQUIRE_1957),
    "C12_exp": BulkReference("C12_exp", "elastic constant C12, experiment, 300 K", "GPa",
                             42.0, source=_C_IJ_SOURCE, primary=True,
                             citation=BRISCOE_SQUIRE_1957),
    "C44_exp": BulkReference("C44_exp", "elastic constant C44, experiment, 300 K", "GPa",
                             62.8, source=_C_IJ_SOURCE, primary=True,
                             citation=BRISCOE_SQUIRE_1957),
    "B_exp": BulkReference(
        "B_exp", "bulk modulus, experiment, room temperature (range)", "GPa", None,
        low=65.0, high=70.0,
        source=("approximate range of reported room-temperature values, as specified for "
                "this compendium; the lower end matches (C11 + 2 C12)/3 of the 300 K C_ij "
                "above"),
        primary=False),
    "T_melt_K": BulkReference(
        "T_melt_K", "melting point at 1 atm", "K", 1118.0,
        source="handbook value 845 C (e.g. CRC Handbook of Chemistry and Physics)",
        primary=False),
}

#: reference rows of notebook 01's table: Table S1 column -> :data:`BULK_LIF` name
BULK_LIF_TABLE_ROWS = (
    {"label": "experiment (room T)",
     "values": {"a0_A": "a_exp_RT", "B_eos_GPa": "B_exp", "C11_GPa": "C11_exp",
                "C12_GPa": "C12_exp", "C44_GPa": "C44_exp"}},
    {"label": "DFT-PBE", "values": {"a0_A": "a_PBE"}},
)


def bulk_lif_reference(name: str) -> BulkReference:
    """A :data:`BULK_LIF` entry by name (``KeyError`` naming the known ones otherwise)."""
    try:
        return BULK_LIF[name]
    except KeyError:
        raise KeyError(f"no bulk-LiF reference {name!r}; known: {sorted(BULK_LIF)}") from None


__all__ += ["BulkReference", "BRISCOE_SQUIRE_1957", "HAAS_TRAN_BLAHA_2009", "BULK_LIF",
            "BULK_LIF_TABLE_ROWS", "bulk_lif_reference"]


# --------------------------------------------------------------------------------------
# Migration barriers the study cites beside its MD activation energies (Sec. 3)
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BarrierReference:
    """A literature barrier (or activation energy) of interstitial Li migration in LiF."""

    label: str
    Ea_eV: float
    method: str
    cell: str | None
    citation: Citation
    #: the study's reference number and what it says about the value
    note: str = ""


ZHENG_2021 = Citation(
    authors=("J. Zheng, Z. Ju, B. Zhang, J. Nai, T. Liu, Y. Liu, Q. Xie, W. Zhang, Y. Wang, "
             "X. Tao"),
    title=("Lithium ion diffusion mechanism on the inorganic components of the "
           "solid-electrolyte interphase"),
    journal="J. Mater. Chem. A", year=2021, doi="10.1039/D0TA11444H")
YILDIRIM_2015 = Citation(
    authors="H. Yildirim, A. Kinaci, M. K. Y. Chan, J. P. Greeley",
    title=("First-Principles Analysis of Defect Thermodynamics and Ion Transport in "
           "Inorganic SEI Compounds: LiF and NaF"),
    journal="ACS Appl. Mater. Interfaces", year=2015, doi="10.1021/acsami.5b02904")
DE_ANGELIS_2024 = Citation(
    authors="P. De Angelis, R. Cappabianca, M. Fasano, P. Asinari, E. Chiavazzo",
    title=("Enhancing ReaxFF for molecular dynamics simulations of lithium-ion batteries: "
           "an interactive reparameterization protocol"),
    journal="Sci. Rep.", year=2024, doi="10.1038/s41598-023-50978-5")

#: the values the study sets beside its MD activation energies (its Sec. 3, refs. [61],
#: [64], [10]): DFT CI-NEB on 2x2x2 supercells, and ReaxFF MD
BARRIERS: dict[str, BarrierReference] = {
    "dft-cineb-zheng": BarrierReference(
        "DFT CI-NEB (Zheng et al.)", 0.25, "DFT climbing-image NEB", "2x2x2", ZHENG_2021,
        "study ref. [61]: 'the activation energy of 0.25 eV using the CI-NEB method on a "
        "2x2x2 supercell'"),
    "dft-neb-yildirim": BarrierReference(
        "DFT NEB (Yildirim et al.)", 0.27, "DFT NEB", "2x2x2", YILDIRIM_2015,
        "study ref. [64]: 'a value of 0.27 eV using the DFT and NEB method with the same "
        "supercell size'"),
    "reaxff-md": BarrierReference(
        "ReaxFF MD (De Angelis et al.)", 0.06, "ReaxFF MD, Arrhenius", None, DE_ANGELIS_2024,
        "study ref. [10]: the structure failed to remain stable (liquefied) and gave only "
        "0.06 eV"),
}

__all__ += ["BarrierReference", "BARRIERS", "ZHENG_2021", "YILDIRIM_2015", "DE_ANGELIS_2024"]


# --------------------------------------------------------------------------------------
# Study, Table 1: the fine-tuning grid, as its text states it and its scripts ran it
# --------------------------------------------------------------------------------------

#: upstream folder of the study's scripts and data (repository AlghamdiNada/
#: Li_diffusion_with_MACE, the commit pinned in :mod:`lidiff_helpers.io.data`)
STUDY_DEEPMD_DIR = "Fine-tuning_with_DeePMD_data"


@dataclass(frozen=True)
class Table1Size:
    """One data size of the study's Table 1 (bulk + interstitial frames) and its arms.

    ``train_file``/``valid_file`` are upstream basenames under :data:`STUDY_DEEPMD_DIR`
    as the study's scripts pass them (``--train_file``/``--valid_file``); ``train_file``
    None: upstream does not publish it. ``scripts``: upstream script folders that show it
    (``ft<size>_pt<N>``); empty when no script of that size is published.
    """

    n_bulk: int
    n_interstitial: int
    n_pt_values: tuple[int, ...]
    train_file: str | None
    valid_file: str
    scripts: tuple[str, ...] = ()
    note: str = ""

    @property
    def n_frames(self) -> int:
        return self.n_bulk + self.n_interstitial


#: Table 1 of the study: (bulk + interstitial) -> MPtrj replay sizes N_pt (0 = naive).
#: "The 800 sample case has identical structures to the 710 sample case, it only
#: includes 90 additional bulk structures." Files and validation sets from the scripts.
STUDY_TABLE1: tuple[Table1Size, ...] = (
    Table1Size(10, 100, (1000,), "100-REF_train.xyz", "100-REF_valid.xyz", (),
               "no script of this size upstream: validation file by the naming of the "
               "others"),
    Table1Size(10, 200, (0, 100, 1000), "200-REF_train.xyz", "200-REF_valid.xyz",
               ("ft200_pt1000",), "only the N_pt = 1000 script is published"),
    Table1Size(10, 400, (1000,), "400-REF_train.xyz", "400-REF_valid.xyz",
               ("ft400_pt1000",)),
    Table1Size(10, 700, (0, 100, 1000, 10000), "700-REF_train.xyz", "700-REF_valid.xyz",
               ("ft700_pt0", "ft700_pt100", "ft700_pt1000", "ft700_pt10000")),
    Table1Size(100, 700, (0, 100, 1000, 10000), "bulk-700-REF_train.xyz",
               "bulk-700-REF_valid.xyz",
               ("ft800_pt0", "ft800_pt100", "ft800_pt1000", "ft800_pt10000"),
               "the 710 frames + 90 bulk frames"),
    Table1Size(200, 1400, (1000,), None, "400-REF_valid.xyz", ("ft1600_pt1000",),
               "its scripts train on 1600-REF_train.xyz, which upstream does not publish "
               "(absent from the repository tree at the pinned commit)"),
)


@dataclass(frozen=True)
class ReplaySet:
    """The MPtrj replay ("pre-training") files behind a Table 1 replay size N_pt.

    ``num_samples``: what the scripts pass as ``--num_samples``; mace-torch 0.3.12 (and
    0.3.16) ignore it when ``--pt_train_file`` is given, so ``train_frames`` is the
    replay size that was actually trained on.
    """

    n_pt: int
    train_file: str
    train_frames: int
    valid_file: str
    valid_frames: int
    num_samples: int
    note: str = ""


#: N_pt -> replay files of the study's scripts (``--pt_train_file``/``--pt_valid_file``)
STUDY_REPLAY_SETS: dict[int, ReplaySet] = {
    100: ReplaySet(100, "train_mp_finetuning-MACE_100.xyz", 100,
                   "valid_mp_finetuning-MACE_100.xyz", 100, 200),
    1000: ReplaySet(1000, "train_mp_finetuning-MACE_900.xyz", 900,
                    "valid_mp_finetuning-MACE_100.xyz", 100, 1000,
                    "'1000' is 900 replay training frames + the 100 replay validation "
                    "frames"),
    10000: ReplaySet(10000, "REF_10000_mp_finetuning-MACE_run-1.xyz", 10000,
                     "valid_mp_finetuning-MACE_100.xyz", 100, 1000,
                     "the scripts pass --num_samples=1000, unused with this file: all "
                     "10 000 frames were replayed"),
}

#: epochs of the study's fine-tuning (``--max_num_epochs`` of its scripts; early stopping
#: with ``--patience=50``); the N_pt = 10 000 scripts use 400, the text says 200
STUDY_FT_EPOCHS = 800
STUDY_FT_EPOCHS_PT10000 = 400
STUDY_FT_EPOCHS_PT10000_TEXT = 200
#: training seeds of the study's scripts (``0_model``: seed 1, ``1_model``: seed 2)
STUDY_FT_SEEDS = (1, 2)
#: the threshold below which mace (0.3.12 hard-coded; 0.3.16 ``--real_pt_data_ratio_
#: threshold``) repeats the fine-tuning frames int(0.1 / ratio) more times,
#: ratio = fine-tuning frames / replay training frames
MACE_PT_RATIO_THRESHOLD = 0.1

__all__ += ["STUDY_DEEPMD_DIR", "Table1Size", "STUDY_TABLE1", "ReplaySet",
            "STUDY_REPLAY_SETS", "STUDY_FT_EPOCHS", "STUDY_FT_EPOCHS_PT10000",
            "STUDY_FT_EPOCHS_PT10000_TEXT", "STUDY_FT_SEEDS", "MACE_PT_RATIO_THRESHOLD"]


# --------------------------------------------------------------------------------------
# Study, production MD: what its upstream LAMMPS inputs ran, per fine-tuned model
# --------------------------------------------------------------------------------------

#: upstream ``Fine-tuning_with_DeePMD_data/<folder>/0_model/1int/[<r>_]<T>K/<t>ps/in.lammps``
#: (seed-1 model of each arm; 300 ps segments): Arrhenius grids (300-500 K x 4 replicas x
#: 9000 ps) and strategy comparisons (400, 450 K x 2 replicas x 3000 ps). The text's
#: Figure 2 / Table 3 model "ft200-pt100" has no published inputs; ft200_pt1000 does.
STUDY_MD_RUNS: dict[str, tuple[str, ...]] = {
    "arrhenius": ("ft200_pt1000", "ft800_pt100", "ft800_pt1000"),
    "comparison": ("ft400_pt1000", "ft700_pt0", "ft700_pt100", "ft700_pt1000",
                   "ft700_pt10000", "ft800_pt0", "ft800_pt10000", "ft1600_pt1000"),
}
STUDY_ARRHENIUS_TEMPERATURES_K = (300, 350, 400, 450, 500)
STUDY_ARRHENIUS_REPLICAS = 4
STUDY_ARRHENIUS_PS = 9000.0
STUDY_COMPARISON_TEMPERATURES_K = (400, 450)
STUDY_COMPARISON_REPLICAS = 2
STUDY_COMPARISON_PS = 3000.0

__all__ += ["STUDY_MD_RUNS", "STUDY_ARRHENIUS_TEMPERATURES_K", "STUDY_ARRHENIUS_REPLICAS",
            "STUDY_ARRHENIUS_PS", "STUDY_COMPARISON_TEMPERATURES_K",
            "STUDY_COMPARISON_REPLICAS", "STUDY_COMPARISON_PS"]


# --------------------------------------------------------------------------------------
# Study, Sec. 3 (computational cost): the per-step costs it states, for compute plans
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatedCost:
    """A compute cost the study states, with the sentence it comes from."""

    value: float
    unit: str
    source: str


STUDY_COSTS: dict[str, StatedCost] = {
    "train_gpu_s_per_frame_epoch": StatedCost(
        8 * 20.0 / 1800, "GPU-s per training frame per epoch",
        "study Sec. 3: 800 fine-tuning + 1000 pre-training frames, batch 2, 'approximately "
        "20 seconds per epoch ... using 8 NVIDIA A100 GPUs' (8 x 20 s / 1800 frames)"),
    "md_gpu_s_per_step_1001_atoms": StatedCost(
        0.24, "GPU-s per MD step of the 1001-atom cell",
        "study Sec. 3: LAMMPS 'on a single NVIDIA A100 GPU ... approximately 0.24 seconds "
        "per step' (300 ps in 20 h)"),
    "explore_gpu_h_per_run": StatedCost(
        24.0, "GPU-h per active-learning exploration run (~600 ps, 216/217 atoms)",
        "study Sec. 2.4: 'Each simulation was carried out for 24 hours, corresponding to "
        "approximately 600 ps trajectories' (one GPU assumed)"),
}

#: published costs of the batched engine's regime (not from the study): for plans of
#: profiles whose MD runs with ``engine='batched'`` on a GPU
BATCHED_GPU_COSTS: dict[str, StatedCost] = {
    "md_batched_gpu_s_per_atom_step": StatedCost(
        3.02e-6, "GPU-s per atom per MD step, many systems per model call",
        "NVIDIA NIM for batched geometry relaxation (Alchemi BGR) performance page: "
        "MACE-MP-0b2-Large, batched (~82,000 atoms per call), H100: 3.02 us/atom/step "
        "(one force call per step, as in MD; A100: 6.65 us). MACE-MPA-0 medium is smaller, "
        "so this is an upper estimate; not measured by lidiff (no GPU was available)"),
}

__all__ += ["StatedCost", "STUDY_COSTS", "BATCHED_GPU_COSTS"]
