"""Stand-in PAW datasets for Li and F made with Quantum ESPRESSO's ``ld1.x``, so that a
test can run ``pw.x`` end to end (the study's pslibrary 1.0.0 files cannot be downloaded
here). For tests only: never used to label training data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lidiff_helpers.core.errors import LabellingError

__all__ = ["generate_test_paw_datasets"]


#: ld1.x inputs for small PBE PAW datasets of Li (1s in valence, like the study's "s"
#: dataset) and F (adapted from Quantum ESPRESSO's ``atomic/paw_examples``, L. Paulatto).
#: They stand in for the study's pslibrary files only to test that pw.x runs: they are
#: NOT the study's pseudopotentials and are not validated for production.
_LD1_INPUTS = {
    "Li": """ &input
   title='Li', prefix='Li', zed=3., rel=1, config='1s2 2s1 2p0', iswitch=3, dft='PBE'
 /
 &inputp
   lpaw=.true., pseudotype=3, file_pseudopw='{out}', lloc=-1, rcloc=1.4,
   which_augfun='PSQ', rmatch_augfun_nc=.true., nlcc=.false., tm=.true.
 /
4
1S  1  0  2.00  0.00  1.10  1.40  0.0
2S  2  0  1.00  0.00  1.10  1.40  0.0
2P  2  1  0.00  0.00  1.30  1.60  0.0
2P  2  1  0.00  0.30  1.30  1.60  0.0
""",
    "F": """ &input
    title='F', prefix='F', zed=9., config='[He] 2s2 2p5 3d-2', iswitch=3, dft='PBE'
 /
 &inputp
   pseudotype=3, lpaw=.true., lnc2paw=.false., which_augfun='BESSEL', rmatch_augfun=1.0,
   nlcc=.true., new_core_ps=.true., rcore=0.8, lloc=2, tm=.true., file_pseudopw='{out}'
 /
5
2S  1  0  2.00  0.00  1.00  1.45
2S  1  0  0.00  0.05  1.00  1.45
2P  2  1  5.00  0.00  1.00  1.60
2P  2  1  0.00  0.10  1.00  1.60
3D  3  2 -2.00  0.15  1.30  1.30
""",
}


def generate_test_paw_datasets(out_dir: str | os.PathLike,
                               ld1: str = "ld1.x") -> dict[str, str]:
    """Generate small PBE PAW datasets for Li and F with ``ld1.x`` (for tests only).

    The study's pslibrary 1.0.0 files cannot be downloaded here; these stand-ins let a
    test run pw.x end to end. Returns element -> UPF file name in ``out_dir``.

    Raises
    ------
    LabellingError
        ld1.x is missing or did not write a dataset.
    """
    import subprocess

    if shutil.which(ld1) is None:
        raise LabellingError(f"{ld1} not on PATH (Debian's quantum-espresso ships it)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {}
    for el, text in _LD1_INPUTS.items():
        name = f"{el}.pbe-test-paw.UPF"
        if not (out_dir / name).is_file():
            inp = out_dir / f"{el}.ld1.in"
            inp.write_text(text.replace("{out}", name))
            with open(inp) as fin, open(out_dir / f"{el}.ld1.out", "w") as fout:
                subprocess.run([ld1], stdin=fin, stdout=fout, stderr=subprocess.STDOUT,
                               cwd=out_dir, timeout=300, check=False)
            if not (out_dir / name).is_file():
                tail = (out_dir / f"{el}.ld1.out").read_text().splitlines()[-10:]
                raise LabellingError(f"ld1.x did not write {name} in {out_dir}:\n"
                                     + "\n".join(tail))
            _wrap_upf_lines(out_dir / name)
        names[el] = name
    return names


def _wrap_upf_lines(path: Path, per_line: int = 4) -> None:
    """Split long numeric lines of a UPF file (pw.x 6.7 cannot read ld1.x 6.7's own
    1248-character lines: "xmlr_opentag: severe error, line too long")."""
    out = []
    for line in path.read_text().splitlines(keepends=True):
        if len(line) > 200 and "<" not in line:
            nums = line.split()
            out += ["  " + "  ".join(nums[i:i + per_line]) + "\n"
                    for i in range(0, len(nums), per_line)]
        else:
            out.append(line)
    path.write_text("".join(out))
