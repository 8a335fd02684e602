"""lidiff_helpers: the library behind the lidiff research compendium.

Reproduces and extends Alghamdi, De Angelis, Asinari, Chiavazzo, "Comparing fine-tuning
strategies for machine learning force fields in lithium-ion diffusion", J. Phys. Energy
(2026), doi:10.1088/2515-7655/ae6c5a: Li diffusion in LiF with MACE-MPA-0, zero-shot and
fine-tuned, against a DeePMD reference.

Layers, imports flowing one way (README.md, "Code map"): ``core`` (units and constants,
errors, paths, provenance, cache) < ``io`` (study data, trajectories, LAMMPS files) <
``analysis`` (numpy/scipy only: MSD and D, hops, Arrhenius, RDF, parity, confound guard) <
``simulation`` (calculators, structures, MD, bulk properties) < ``training`` (mace_run_train,
fine-tuning, active learning) < ``figures`` < ``workflows`` (one per notebook) < ``runner``;
``synthetic`` holds generators of synthetic and test data. The top-level modules re-export
the documented public names. Units follow ASE: eV, A, fs internally; names carry their
unit at the boundary (``temperature_K``, ``D_cm2_s``, ``frame_interval_ps``).
"""

__version__ = "0.1.0"
