r"""Per-atom invariant features of a MACE model: the rows of the D-optimality active set.

MACE (Batatia et al., NeurIPS 35, 11423 (2022)) builds, in interaction layer
:math:`t = 1..T`, node features :math:`h_i^{(t)}` and sums site energies read out of them,

.. math::  E_i = \sum_{t=1}^{T} \mathcal{R}_t\big(h_{i,00}^{(t)}\big),

where :math:`h_{i,00}^{(t)}` are the scalar (``0e``) channels: the readouts of layers
:math:`t < T` are linear in them, the last one is a small MLP. The descriptor of atom
:math:`i` here is :math:`[h_{i,00}^{(1)}, \dots, h_{i,00}^{(T)}]`, **all layers' scalar
channels concatenated**: exactly what the readouts see, and for the linear readouts the
derivative of :math:`E_i` with respect to their weights, the analogue of the MTP basis
functions whose span D-optimality measures (:mod:`lidiff_helpers.analysis.dopt`). The last
layer alone would drop the layer-1 environment the linear readout uses. Dimension:
:math:`T \times` (scalar channels per layer); for ``tests/models/tiny-lif.model``
(hidden irreps ``8x0e``, 2 interactions) 2 x 8 = 16.

They come from mace-torch's public ``MACECalculator.get_descriptors(atoms,
invariants_only=True, num_layers=-1)`` (mace-torch 0.3.16: one model forward on the
calculator's own batch, ``node_feats`` output, scalar channels of each layer kept by
``mace.modules.utils.extract_invariant``). Units: those of the model's internal features
(arbitrary); the extrapolation grade does not depend on them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lidiff_helpers.core.errors import ParameterError

__all__ = ["MaceDescriptors", "mace_descriptors"]


@dataclass(frozen=True, eq=False)
class MaceDescriptors:
    """Per-atom MACE invariant descriptors of a list of frames.

    Attributes
    ----------
    features : per frame, (n_atoms, n_features) scalar node features (model units)
    numbers : per frame, (n_atoms,) atomic numbers, in the frame's atom order
    n_layers : interaction layers concatenated (layer 1 first)
    features_per_layer : scalar channels per layer; ``n_features = n_layers * this``
    """

    features: tuple[np.ndarray, ...]
    numbers: tuple[np.ndarray, ...]
    n_layers: int
    features_per_layer: int

    @property
    def n_features(self) -> int:
        return self.n_layers * self.features_per_layer


def _calculator(calc_or_model_spec, dtype: str):
    if isinstance(calc_or_model_spec, (str, os.PathLike)):
        from lidiff_helpers.simulation.models import get_calculator

        return get_calculator(calc_or_model_spec, dtype=dtype, verbose=False)
    return calc_or_model_spec


def mace_descriptors(calc_or_model_spec, frames: Sequence, num_layers: int = -1,
                     dtype: str = "float64") -> MaceDescriptors:
    """Scalar node features of every atom of ``frames`` from a MACE model.

    Parameters
    ----------
    calc_or_model_spec : a ``mace.calculators.MACECalculator`` or a model spec / path
        (:func:`lidiff_helpers.simulation.models.get_calculator`)
    frames : ``ase.Atoms`` objects (not modified)
    num_layers : first layers to keep (-1: all, the default; see the module docstring)
    dtype : ``float64`` or ``float32``, when a calculator is made from a spec

    Raises
    ------
    ParameterError
        the calculator is not a single MACE model, or ``num_layers`` is out of range.
    """
    calc = _calculator(calc_or_model_spec, dtype)
    if not hasattr(calc, "get_descriptors") or getattr(calc, "model_type", "") != "MACE":
        raise ParameterError(f"mace_descriptors needs a MACECalculator of a MACE model, got "
                             f"{type(calc).__name__}")
    if getattr(calc, "num_models", 1) != 1:
        raise ParameterError(f"mace_descriptors takes one model, the calculator holds "
                             f"{calc.num_models}")
    n_int = int(calc.models[0].num_interactions)
    n_layers = n_int if num_layers == -1 else int(num_layers)
    if not 1 <= n_layers <= n_int:
        raise ParameterError(f"num_layers must be -1 or 1..{n_int}, got {num_layers}")
    feats, nums = [], []
    for f, atoms in enumerate(frames):
        d = np.asarray(calc.get_descriptors(atoms.copy(), invariants_only=True,
                                            num_layers=n_layers), dtype=float)
        if d.ndim != 2 or len(d) != len(atoms) or d.shape[1] % n_layers:
            raise ParameterError(f"frame {f}: descriptors of shape {d.shape} for "
                                 f"{len(atoms)} atoms and {n_layers} layers")
        feats.append(d)
        nums.append(np.asarray(atoms.numbers, dtype=int).copy())
    if feats:
        per_layer = feats[0].shape[1] // n_layers
    else:
        irreps = calc.models[0].products[0].linear.irreps_out
        per_layer = irreps.dim // (irreps.lmax + 1) ** 2
    return MaceDescriptors(tuple(feats), tuple(nums), n_layers, per_layer)
