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

__all__ = ["Citation", "STUDY", "ArrheniusReference", "TABLE3", "TABLE3_REFERENCE_MODEL",
           "table3_reference"]


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
    D_450K_cm2_s, D_500K_cm2_s : diffusion coefficients at 450 K and 500 K (cm^2/s)
    source : the publication
    """

    model: str
    Ea_eV: float
    Ea_err_eV: float | None
    D0_cm2_s: float
    D_450K_cm2_s: float
    D_500K_cm2_s: float
    source: Citation = STUDY

    def D_at_cm2_s(self, temperature_K: float) -> float | None:
        """The tabulated D at 450 K or 500 K (None for any other temperature)."""
        return {450.0: self.D_450K_cm2_s, 500.0: self.D_500K_cm2_s}.get(float(temperature_K))


#: Table 3 of :data:`STUDY`, by model label
TABLE3: dict[str, ArrheniusReference] = {
    "mace-mpa-0": ArrheniusReference("mace-mpa-0", Ea_eV=0.22, Ea_err_eV=0.015,
                                     D0_cm2_s=1.1e-3, D_450K_cm2_s=3.45e-6,
                                     D_500K_cm2_s=7.3e-6),
    "ft200-pt100": ArrheniusReference("ft200-pt100", Ea_eV=0.20, Ea_err_eV=0.004,
                                      D0_cm2_s=1.1e-3, D_450K_cm2_s=6.4e-6,
                                      D_500K_cm2_s=10.5e-6),
    "deepmd": ArrheniusReference("deepmd", Ea_eV=0.24, Ea_err_eV=None, D0_cm2_s=3.3e-3,
                                 D_450K_cm2_s=6.8e-6, D_500K_cm2_s=12.5e-6),
}

#: the study's reference potential (the dashed line of Figures 2 and 3)
TABLE3_REFERENCE_MODEL = "deepmd"


def table3_reference(model: str) -> ArrheniusReference | None:
    """Table 3 row for ``model`` (case-insensitive; ``None`` if the study has none)."""
    return TABLE3.get(str(model).strip().lower())
