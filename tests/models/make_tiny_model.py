"""Recipe of tests/models/tiny-lif.model: a tiny MACE (8x0e, r_max 4 A) trained with
mace_run_train for 2 epochs on 6 non-test LiF frames. Only for exercising code paths in
tests offline (janus-core style); its predictions mean nothing physically.

    python tests/models/make_tiny_model.py   (needs LIDIFF_DATA_DIR)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from lidiff_helpers.io import data
from lidiff_helpers.training import mace_train as training

HERE = Path(__file__).resolve().parent


def main() -> Path:
    frames = data.training_subset(3, 3, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        training.write_extxyz(frames[:4], tmp / "train.xyz")
        training.write_extxyz(frames[4:], tmp / "valid.xyz")
        opts = {"name": "tiny-lif", "seed": 1, "device": "cpu", "default_dtype": "float64",
                "train_file": str(tmp / "train.xyz"), "valid_file": str(tmp / "valid.xyz"),
                "energy_key": "REF_energy", "forces_key": "REF_forces",
                "stress_key": "REF_stress", "E0s": {3: data.E0S_EV["Li"], 9: data.E0S_EV["F"]},
                "model": "MACE", "hidden_irreps": "8x0e", "r_max": 4.0,
                "num_radial_basis": 4, "max_ell": 1, "correlation": 2,
                "num_interactions": 2, "max_num_epochs": 2, "batch_size": 2,
                "pair_repulsion": True, "compute_stress": True, "loss": "universal",
                "save_cpu": True, "num_workers": 0}
        model = training.run_mace_train(opts, tmp / "run", threads=2)
        shutil.copy(model, HERE / "tiny-lif.model")
    return HERE / "tiny-lif.model"


if __name__ == "__main__":
    print(main())
