"""lidiff_helpers: the library behind the lidiff research compendium.

Reproduces and extends Alghamdi, De Angelis, Asinari, Chiavazzo, "Comparing fine-tuning
strategies for machine learning force fields in lithium-ion diffusion", J. Phys. Energy
(2026), doi:10.1088/2515-7655/ae6c5a: Li diffusion in LiF with MACE-MPA-0, zero-shot and
fine-tuned, against a DeePMD reference.

One module per concept (see README.md for the map). Units follow ASE: eV, A, fs
internally; names carry their unit at the boundary (``temperature_K``, ``D_cm2_s``).
"""

__version__ = "0.1.0"
