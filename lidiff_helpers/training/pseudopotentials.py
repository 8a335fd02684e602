"""The study's PAW datasets for Li and F, generated here from pslibrary 1.0.0's parameters.

What pslibrary is
-----------------
`pslibrary <https://github.com/dalcorso/pslibrary>`_ (A. Dal Corso, *Comput. Mater. Sci.*
95, 337 (2014)) is not a set of files but a set of *inputs* for ``ld1.x``, the atomic
code of Quantum ESPRESSO: every PAW dataset (and ultrasoft pseudopotential) of the
library is made by running ``ld1.x`` on one of its inputs. A dataset's name says what
it is: ``Li.pbe-s-kjpaw_psl.1.0.0.UPF`` is lithium, PBE functional, with the ``s``
semicore state (the 1s shell) in valence, a Kresse-Joubert PAW dataset of pslibrary
version 1.0.0; ``F.pbe-n-kjpaw_psl.1.0.0.UPF`` is fluorine with a nonlinear core
correction (``n``) and 2s 2p valence.

The study (Alghamdi et al., its Section 2.4) labelled its frames with ``pw.x``, PBE and
these two datasets at 110/440 Ry (:data:`lidiff_helpers.training.labelling.STUDY_QE_SETTINGS`),
just above the cutoffs ``ld1.x`` suggests for the Li ``s`` dataset (103/410 Ry; F's
are 49/316 Ry).
The UPF files are not downloaded: :func:`generate_pseudopotentials` runs ``ld1.x`` on
lidiff's own input text, written from pslibrary's generation parameters, and stores the
result in a cache folder::

    from lidiff_helpers.training.pseudopotentials import generate_pseudopotentials
    folder = generate_pseudopotentials()        # a few seconds once, then reused
    # folder / "Li.pbe-s-kjpaw_psl.1.0.0.UPF", folder / "F.pbe-n-kjpaw_psl.1.0.0.UPF",
    # folder / "provenance.json"

or ``python -m lidiff_helpers.training.pseudopotentials`` (``make pseudos``). The
labeller uses them when it is given no folder
(``QuantumEspressoLabeller(pseudo_dir=None, ...)``).

Where the parameters come from, and their licence
--------------------------------------------------
The generation parameters (reference configuration, pseudization energies and radii,
local-potential radius, core-correction radius, flags) of :data:`PSLIBRARY_DATASETS`
were read from pslibrary's ``paw_ps_high.job`` (``Li.$fct-s-``, ``F.$fct-n-``),
``paw_ps_low.job`` (``Li.$fct-sl-``) and the test configurations from
``paw_ps_test_high.job`` / ``paw_ps_test_low.job``, with ``$fct = pbe``, ``dft = 'PBE'``,
``rel = 1`` from ``pbe/environment.job``, at commit :data:`PSLIBRARY_COMMIT`; these
blocks are unchanged since commit ``2eb5c0db`` (Aug 2013, the 1.0.0 rewrite).
pslibrary is distributed under the GNU GPL v2; lidiff copies none of its scripts: the
numbers and flags are facts about the datasets, and the ``ld1.x`` input text is
lidiff's own (:func:`ld1_input`). The author recorded in the UPF files is pslibrary's
(``ADC``), who designed the datasets.

How the datasets are checked
----------------------------
pslibrary tests each dataset by running ``ld1.x`` again (``iswitch=2``) on the UPF file
with a few test configurations (the neutral atom, excited and ionised ones) and
comparing the all-electron (AE) and PAW results. ``ld1.x`` 6.7 (Debian 12's Quantum
ESPRESSO) cannot do that for any PAW file: it reads the file, but its PAW calculation
diverges (NaN energies, "Zero norm" warnings; checked here for Li, F and a two-projector
H dataset, with and without wrapped lines; an ultrasoft file of the same atom tests
fine). lidiff runs the same test configurations the other way ``ld1.x`` allows: one
generation run (``iswitch=3``) per configuration with a one-configuration ``&test``
namelist and ``zval`` set to that configuration's electron count (``ld1.x`` takes the
valence from the first test configuration). The pseudization of every such run is
checked to be the kept dataset's, block for block (only ``PP_INFO``, ``PP_HEADER``, the
pseudo-wavefunction block ``PP_PSWFC`` and ``core_energy``, which ``ld1.x`` fills from
the test configuration, differ), so its AE-vs-PAW eigenvalues and total-energy
differences are the kept dataset's transferability tests. They are stored in the
provenance (``transferability_tests``: per configuration the AE and PAW eigenvalues,
``dEtot_ae_Ry`` and ``dEtot_ps_Ry``, the energy relative to the first configuration,
and their difference ``delta_E_Ry``, as ``ld1.x`` prints them). The dataset itself is
generated without a ``&test`` namelist, exactly as pslibrary does.

What the tests give (ld1.x 6.7): Li ``s`` reproduces the AE energy differences to
1e-6 Ry and eigenvalues to 1.3e-4 Ry (all its electrons are valence); F ``n`` to 6e-4 Ry
(8 meV, F2+) and 8e-4 Ry, the error of its frozen 1s core.

Checked against the study
-------------------------
The study's isolated-atom energies (its MACE ``--E0s``: Li -202.82202 eV,
F -803.84415 eV) are reproduced by ``pw.x`` 6.7 with these files at its settings
(110/440 Ry, Gamma, Gaussian 0.005 Ry), one atom in a cubic box, *not* spin-polarised:
F -803.84396 eV (10 A box; box-converged, +0.2 meV), Li -202.82161 eV (14 A; Li's
diffuse 2s needs a large box: -202.84967 at 10 A, -202.82271 at 13 A, -202.82087 at
20 A). Spin-polarised atoms are 0.35 eV (Li) and 0.39 eV (F) lower, so the study's
E0s are spin-unpolarised. pslibrary's low-cutoff Li ``sl`` dataset lies 1.1 meV below
``s`` (-202.82196 eV at 20 A); the E0s alone cannot tell the two apart, the study's
110 Ry cutoff (``s`` asks for 103 Ry, ``sl`` for 50 Ry) points to ``s``.

Reproducibility of the files
----------------------------
``ld1.x`` writes its version and the generation date into the UPF file (``Generation
date: 6Dec2026`` and ``date=" 6Dec2026"``), so the file's SHA256 (``sha256`` in the
provenance) changes from one day to the next although no number changes. The
provenance therefore also records ``content_sha256``: the SHA256 of the file with both
date fields blanked (:func:`upf_content_sha256`), which is the same for every
generation by the same ``ld1.x`` build. Two generations on the same day are
byte-identical.

Long lines
----------
``ld1.x`` 6.7 writes some arrays (``PP_DIJ``, ``PP_Q``, ``PP_MULTIPOLES``) on one line
of up to 1248 characters, which neither ``pw.x`` 6.7 nor ``ld1.x`` 6.7 itself can read
back ("xmlr_opentag: severe error, line too long"); :func:`lidiff_helpers.io.upf.wrap_upf_lines` splits them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lidiff_helpers.core.errors import LabellingError
from lidiff_helpers.core.provenance import now_utc
from lidiff_helpers.io.upf import upf_content_sha256, upf_header, wrap_upf_lines

__all__ = [
    "PSLIBRARY_COMMIT",
    "PSLIBRARY_DATASETS",
    "PSLIBRARY_REPOSITORY",
    "PSLIBRARY_VERSION",
    "STUDY_DATASETS",
    "Channel",
    "PawDataset",
    "generate_pseudopotentials",
    "ld1_input",
    "main",
    "parse_ld1_test",
    "pseudo_dir",
    "read_provenance",
    "upf_content_sha256",
    "upf_header",
]

PSLIBRARY_VERSION = "1.0.0"
PSLIBRARY_REPOSITORY = "https://github.com/dalcorso/pslibrary"
#: the pslibrary commit the parameters were read from (HEAD of master, 2022-09-16);
#: the Li and F blocks are identical at 2eb5c0db19f60f493711ea36319bfa6bc7ee640c (2013)
PSLIBRARY_COMMIT = "835dd6477c90fa9d59524914de50901d4be73e36"
#: environment variable naming the folder of the generated datasets
ENV_DIR = "LIDIFF_PSEUDO_DIR"
PROVENANCE = "provenance.json"
#: seconds one ld1.x run may take (each takes about half a second)
LD1_TIMEOUT_S = 300


@dataclass(frozen=True)
class Channel:
    """One pseudization channel of ``ld1.x`` (a line of its generation card).

    Parameters
    ----------
    label : state label (``"2S"``)
    n : pseudo principal quantum number (1 for the lowest pseudo state of each l)
    l : angular momentum
    occupation : occupation in the generation configuration (0 for an unbound
        projector energy)
    energy_Ry : reference energy, Ry; 0.0 means the state's own eigenvalue
    rcut : norm-conserving matching radius, bohr
    rcutus : ultrasoft/PAW matching radius, bohr
    """

    label: str
    n: int
    l: int
    occupation: float
    energy_Ry: float
    rcut: float
    rcutus: float

    def card(self) -> str:
        return (f"{self.label:<3s}{self.n:3d}{self.l:3d}{self.occupation:7.2f}"
                f"{self.energy_Ry:7.2f}{self.rcut:7.2f}{self.rcutus:7.2f}    0.0")


@dataclass(frozen=True)
class PawDataset:
    """Generation parameters of one pslibrary PAW dataset (PBE, scalar relativistic).

    Parameters
    ----------
    filename : UPF file name (pslibrary's)
    element, zed : chemical symbol and nuclear charge
    config : all-electron reference configuration
    rcloc : radius of the local potential (AE potential smoothed with Bessel
        functions, ``lloc=-1``), bohr
    channels : pseudization channels
    test_configs : pslibrary's test configurations (valence states only; the first is
        the reference against which energy differences are taken)
    nlcc, rcore : nonlinear core correction and its pseudization radius, bohr
    source : pslibrary file holding the parameters
    """

    filename: str
    element: str
    zed: float
    config: str
    rcloc: float
    channels: tuple[Channel, ...]
    test_configs: tuple[str, ...]
    nlcc: bool = False
    rcore: float | None = None
    source: str = ""

    def parameters(self) -> dict[str, Any]:
        """The parameters as plain JSON-able data."""
        d = asdict(self)
        d["channels"] = [asdict(c) for c in self.channels]
        d["test_configs"] = list(self.test_configs)
        d.update(functional="PBE", rel=1, lloc=-1, new_core_ps=self.nlcc, which_augfun="PSQ",
                 rmatch_augfun_nc=True, pseudization="Troullier-Martins", author="ADC")
        return d


def _ch(label, n, l, occ, e, rc, rcus):
    return Channel(label, n, l, float(occ), float(e), float(rc), float(rcus))


#: pslibrary 1.0.0 datasets lidiff can generate, by UPF file name
PSLIBRARY_DATASETS: dict[str, PawDataset] = {d.filename: d for d in (
    PawDataset(
        filename="Li.pbe-s-kjpaw_psl.1.0.0.UPF", element="Li", zed=3.0,
        config="[He] 2s1 2p0", rcloc=0.6,
        channels=(_ch("1S", 1, 0, 2, 0.0, 0.80, 1.00), _ch("2S", 2, 0, 1, 0.0, 0.80, 1.00),
                  _ch("2P", 2, 1, 0, 0.0, 0.85, 1.20), _ch("2P", 2, 1, 0, 1.0, 0.85, 1.20)),
        test_configs=("1s2 2s1", "1s2 2s0.5 2p0", "1s2 2s0 2p0", "1s2 2s0 2p1"),
        source="paw_ps_high.job; tests: paw_ps_test_high.job"),
    PawDataset(
        filename="F.pbe-n-kjpaw_psl.1.0.0.UPF", element="F", zed=9.0,
        config="[He] 2s2 2p5", rcloc=0.9, nlcc=True, rcore=0.7,
        channels=(_ch("2S", 1, 0, 2, 0.0, 1.00, 1.30), _ch("2S", 1, 0, 0, 0.40, 1.00, 1.30),
                  _ch("2P", 2, 1, 5, 0.0, 0.90, 1.40), _ch("2P", 2, 1, 0, 0.15, 0.90, 1.40)),
        test_configs=("2s2 2p5", "2s2 2p4", "2s2 2p3", "2s1 2p5", "2s1 2p6"),
        source="paw_ps_high.job; tests: paw_ps_test_high.job"),
    PawDataset(
        filename="Li.pbe-sl-kjpaw_psl.1.0.0.UPF", element="Li", zed=3.0,
        config="[He] 2s1 2p0", rcloc=1.0,
        channels=(_ch("1S", 1, 0, 2, 0.0, 0.80, 1.55), _ch("2S", 2, 0, 1, 0.0, 0.80, 1.55),
                  _ch("2P", 2, 1, 0, 0.0, 0.85, 2.00), _ch("2P", 2, 1, 0, 1.0, 0.85, 2.00)),
        test_configs=("1s2 2s1", "1s2 2s0.5 2p0", "1s2 2s0 2p0", "1s2 2s0 2p1"),
        source="paw_ps_low.job; tests: paw_ps_test_low.job"),
)}
#: the study's datasets (:data:`lidiff_helpers.training.labelling.STUDY_PSEUDOPOTENTIALS`)
STUDY_DATASETS = ("Li.pbe-s-kjpaw_psl.1.0.0.UPF", "F.pbe-n-kjpaw_psl.1.0.0.UPF")


# ----------------------------------------------------------------------------- ld1.x input

def _fortran(v: Any) -> str:
    if isinstance(v, bool):
        return ".true." if v else ".false."
    if isinstance(v, str):
        return f"'{v}'"
    return repr(v)


def _namelist(name: str, items: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"    {k} = {_fortran(v)}\n" for k, v in items)
    return f" &{name}\n{body} /\n"


def _valence(config: str) -> float:
    """Electrons in an ld1.x valence configuration (``"1s2 2s0.5 2p0"`` -> 2.5; negative
    occupations mark unbound states and count as none)."""
    occ = [float(m) for m in re.findall(r"\d[spdfSPDF]([-+]?\d*\.?\d+)", config)]
    if not occ:
        raise LabellingError(f"cannot read the configuration {config!r}")
    return float(sum(o for o in occ if o > 0))


def ld1_input(ds: PawDataset, test_config: str | None = None,
              upf_name: str | None = None) -> str:
    """The ``ld1.x`` input that generates ``ds`` (``iswitch=3``).

    Parameters
    ----------
    ds : the dataset
    test_config : if given, a one-configuration ``&test`` namelist is appended (the
        transferability test of that configuration; see the module docstring), with
        ``zval`` set to that configuration's electron count. The UPF file of such a run
        differs from the dataset only in ``PP_INFO``, ``PP_HEADER``, ``PP_PSWFC`` and
        ``core_energy``.
    upf_name : file ``ld1.x`` writes (default ``ds.filename``)

    Returns
    -------
    str
        the input text (lidiff's layout; pslibrary's parameters)
    """
    inputp: list[tuple[str, Any]] = [
        ("lpaw", True), ("pseudotype", 3), ("file_pseudopw", upf_name or ds.filename),
        ("author", "ADC"), ("lloc", -1), ("rcloc", ds.rcloc), ("which_augfun", "PSQ"),
        ("rmatch_augfun_nc", True)]
    if ds.nlcc:
        inputp += [("nlcc", True), ("new_core_ps", True), ("rcore", ds.rcore)]
    inputp.append(("tm", True))
    if test_config is not None:
        # ld1.x takes the valence of a generation run from its first test configuration:
        # say it, so that an ionised test configuration (Li+, F2+) is allowed
        inputp.append(("zval", _valence(test_config)))
    text = (_namelist("input", [("title", ds.element), ("zed", ds.zed), ("rel", 1),
                                ("config", ds.config), ("iswitch", 3), ("dft", "PBE")])
            + _namelist("inputp", inputp)
            + f"{len(ds.channels)}\n" + "".join(c.card() + "\n" for c in ds.channels))
    if test_config is not None:
        text += _namelist("test", [("nconf", 1), ("frozen_core", False),
                                   ("configts(1)", test_config)])
    return text


# ----------------------------------------------------------------------------- UPF files

def _pseudization_sha256(path: Path) -> str:
    """SHA256 of the blocks that define the PAW dataset (everything but ``PP_INFO``,
    ``PP_HEADER``, ``PP_PSWFC`` and ``core_energy``, which a ``&test`` run fills from
    its test configuration)."""
    t = path.read_text()
    for pat in (r"<PP_INFO>.*?</PP_INFO>", r"<PP_HEADER\b.*?/>", r"<PP_PSWFC>.*?</PP_PSWFC>",
                r'core_energy="[^"]*"'):
        t = re.sub(pat, "", t, flags=re.DOTALL)
    return hashlib.sha256(t.encode()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- ld1.x output

_FLOAT = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eEdD][-+]?\d+)?|NaN|\*+"
_ROW = re.compile(rf"^\s*(\d+)\s+(\d+)\s+(\w+)\s+\d+\(\s*({_FLOAT})\)\s+({_FLOAT})\s+"
                  rf"({_FLOAT})\s+({_FLOAT})\s*$")


def _num(s: str) -> float:
    try:
        return float(s.replace("D", "E").replace("d", "e"))
    except ValueError:
        return float("nan")


def parse_ld1_test(text: str) -> dict[str, Any]:
    """The last "Testing the pseudopotential" block of an ``ld1.x`` output.

    Returns
    -------
    dict
        ``states``: list of ``{"label", "n", "l", "occupation", "e_ae_Ry", "e_ps_Ry",
        "de_Ry"}`` (AE and PAW eigenvalues of the test configuration); ``etot_ae_Ry``,
        ``etot_ps_Ry``: the AE and PAW total energies (for a dataset with frozen core
        states the PAW energy lacks the core's, so only differences between
        configurations compare).

    Raises
    ------
    LabellingError
        no test block in ``text``.
    """
    start = text.rfind("Testing the pseudopotential")
    if start < 0:
        raise LabellingError("ld1.x output has no 'Testing the pseudopotential' block")
    block = text[start:]
    end = block.find("End of pseudopotential test")
    block = block[:end] if end >= 0 else block
    states = []
    for line in block.splitlines():
        m = _ROW.match(line)
        if m:
            states.append({"label": m.group(3), "n": int(m.group(1)), "l": int(m.group(2)),
                           "occupation": _num(m.group(4)), "e_ae_Ry": _num(m.group(5)),
                           "e_ps_Ry": _num(m.group(6)), "de_Ry": _num(m.group(7))})
    ae = re.search(rf"^\s*Etot\s*=\s*({_FLOAT})\s*Ry", block, flags=re.MULTILINE)
    ps = re.search(rf"^\s*Etotps\s*=\s*({_FLOAT})\s*Ry", block, flags=re.MULTILINE)
    return {"states": states, "etot_ae_Ry": _num(ae.group(1)) if ae else float("nan"),
            "etot_ps_Ry": _num(ps.group(1)) if ps else float("nan")}


def _ld1_version(text: str) -> str | None:
    m = re.search(r"Program LD1 v\.(\S+)", text)
    return m.group(1) if m else None


# ----------------------------------------------------------------------------- running

def pseudo_dir(directory: str | os.PathLike | None = None) -> Path:
    """The folder of the generated datasets: ``directory``, else ``$LIDIFF_PSEUDO_DIR``,
    else ``<lidiff cache>/pseudo/pslibrary-1.0.0``."""
    if directory:
        return Path(directory).expanduser()
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR]).expanduser()
    from lidiff_helpers.core import paths

    return paths.CACHE / "pseudo" / f"pslibrary-{PSLIBRARY_VERSION}"


def _run_ld1(ld1: str, text: str, cwd: Path, logs: Path, stem: str) -> str:
    """Run ``ld1.x`` on ``text`` in ``cwd``, keeping input and output as
    ``logs/<stem>.in`` and ``logs/<stem>.out``; the output text.

    Raises
    ------
    LabellingError
        ld1.x could not start, ran past :data:`LD1_TIMEOUT_S` or failed (names the input
        and output files and shows the end of the output).
    """
    inp, out = logs / f"{stem}.in", logs / f"{stem}.out"
    inp.write_text(text)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    try:
        with open(inp) as fin, open(out, "w") as fout:
            rc = subprocess.run([ld1], stdin=fin, stdout=fout, stderr=subprocess.STDOUT,
                                cwd=cwd, env=env, timeout=LD1_TIMEOUT_S, check=False
                                ).returncode
    except subprocess.TimeoutExpired:
        raise LabellingError(f"{ld1} on {inp} ran past {LD1_TIMEOUT_S} s "
                             f"(output: {out})") from None
    except OSError as exc:
        raise LabellingError(f"{ld1} on {inp} could not start: {exc}") from exc
    log = out.read_text(errors="replace")
    if rc != 0 or "%%%%" in log:
        tail = "\n".join(log.splitlines()[-12:])
        raise LabellingError(f"{ld1} failed (exit {rc}) on {inp}; output {out}:\n{tail}")
    return log


def _check_finite(name: str, res: dict[str, Any], where: Path) -> None:
    vals = [res["etot_ae_Ry"], res["etot_ps_Ry"]] + \
        [s[k] for s in res["states"] for k in ("e_ae_Ry", "e_ps_Ry")]
    if not res["states"] or not all(math.isfinite(v) for v in vals):
        raise LabellingError(f"{name}: ld1.x's test in {where} gave no finite AE/PAW "
                             "eigenvalues and energies (the dataset is unusable)")


def _generate_one(ds: PawDataset, folder: Path, ld1: str) -> dict[str, Any]:
    """Generate ``ds`` into ``folder`` and run its tests; its provenance entry."""
    logs = folder / "ld1"
    logs.mkdir(parents=True, exist_ok=True)
    stem = ds.filename[:-4]
    text = ld1_input(ds)
    with tempfile.TemporaryDirectory(prefix=f".{stem}.", dir=folder) as tmp:
        work = Path(tmp)
        log = _run_ld1(ld1, text, work, logs, stem)
        upf = work / ds.filename
        if not upf.is_file():
            raise LabellingError(f"ld1.x wrote no {ds.filename} (input {logs / stem}.in, "
                                 f"output {logs / stem}.out)")
        wrap_upf_lines(upf)
        generation_test = parse_ld1_test(log)
        _check_finite(ds.filename, generation_test, logs / f"{stem}.out")
        ref = _pseudization_sha256(upf)
        tests = []
        for i, conf in enumerate(ds.test_configs, 1):
            tstem, tupf = f"{stem}.test{i}", work / f"test{i}.UPF"
            tlog = _run_ld1(ld1, ld1_input(ds, conf, upf_name=tupf.name), work, logs, tstem)
            res = parse_ld1_test(tlog)
            _check_finite(ds.filename, res, logs / f"{tstem}.out")
            if tupf.is_file():
                wrap_upf_lines(tupf)
            if not tupf.is_file() or _pseudization_sha256(tupf) != ref:
                raise LabellingError(f"{ds.filename}: the test run of {conf!r} "
                                     f"({logs / tstem}.out) did not reproduce the "
                                     "dataset's pseudization")
            tests.append({"config": conf, **res})
        head = upf_header(upf)
        os.replace(upf, folder / ds.filename)
    e0_ae, e0_ps = tests[0]["etot_ae_Ry"], tests[0]["etot_ps_Ry"]
    for t in tests:
        t["dEtot_ae_Ry"] = t["etot_ae_Ry"] - e0_ae
        t["dEtot_ps_Ry"] = t["etot_ps_Ry"] - e0_ps
        t["delta_E_Ry"] = t["dEtot_ae_Ry"] - t["dEtot_ps_Ry"]
    path = folder / ds.filename
    return {
        "element": ds.element,
        "origin": "generated",
        "generated_utc": now_utc(),
        "ld1_version": _ld1_version(log),
        "ld1_executable": shutil.which(ld1) or ld1,
        "pslibrary": {"version": PSLIBRARY_VERSION, "repository": PSLIBRARY_REPOSITORY,
                      "commit": PSLIBRARY_COMMIT, "file": ds.source},
        "parameters": ds.parameters(),
        "ld1_input": text,
        "parameters_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "sha256": _sha256(path),
        "content_sha256": upf_content_sha256(path),
        "pseudization_sha256": _pseudization_sha256(path),
        "z_valence": float(head.get("z_valence", "nan")),
        "pseudo_type": head.get("pseudo_type"),
        "suggested_cutoffs_Ry": {"ecutwfc": float(head.get("wfc_cutoff", "nan")),
                                 "ecutrho": float(head.get("rho_cutoff", "nan"))},
        "generation_test": generation_test,
        "transferability_tests": tests,
        "max_abs_delta_E_Ry": max(abs(t["delta_E_Ry"]) for t in tests),
        "max_abs_eigenvalue_error_Ry": max(abs(s["de_Ry"]) for t in tests
                                           for s in t["states"]),
    }


def read_provenance(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The provenance record of a datasets folder (``{}`` when there is none)."""
    p = pseudo_dir(directory) / PROVENANCE
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise LabellingError(f"{p}: not valid JSON ({exc}); delete it to regenerate") from exc


def _write_provenance(folder: Path, record: dict[str, Any]) -> None:
    tmp = folder / f".{PROVENANCE}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / PROVENANCE)


def generate_pseudopotentials(directory: str | os.PathLike | None = None,
                              names: Sequence[str] = STUDY_DATASETS, *, ld1: str = "ld1.x",
                              force: bool = False, verbose: bool = False) -> Path:
    """Generate pslibrary 1.0.0 PAW datasets with ``ld1.x`` (or reuse them); their folder.

    Each dataset is generated once: a file this function wrote before with the same
    ``ld1.x`` input is reused as long as its :func:`upf_content_sha256` still matches
    the provenance (``ld1.x`` is then not run, not even looked for). A UPF file of that
    name that lidiff did not write (e.g. pslibrary's own file, put there by hand) is
    used as it is and recorded as ``origin: external``; ``force=True`` regenerates
    every named dataset.

    Parameters
    ----------
    directory : the folder (default :func:`pseudo_dir`: ``$LIDIFF_PSEUDO_DIR`` or the
        lidiff cache)
    names : UPF file names, keys of :data:`PSLIBRARY_DATASETS` (default the study's two)
    ld1 : the ``ld1.x`` executable
    force : regenerate even when a usable file exists
    verbose : print what is generated or reused

    Returns
    -------
    Path
        the folder, holding the UPF files (long lines wrapped for ``pw.x`` 6.7),
        ``provenance.json`` (per file: ld1.x version, pslibrary commit, generation
        parameters and input, ``sha256`` of the file, date-independent
        ``content_sha256``, valence, ld1.x's AE-vs-PAW test results) and ``ld1/`` (the
        ld1.x inputs and outputs).

    Raises
    ------
    LabellingError
        an unknown dataset name; ``ld1.x`` not found, failed, ran too long or gave
        non-finite test results (the message names the file and the problem).
    """
    unknown = [n for n in names if n not in PSLIBRARY_DATASETS]
    if unknown:
        raise LabellingError(f"no generation parameters for {unknown}; lidiff knows "
                             f"{sorted(PSLIBRARY_DATASETS)}")
    folder = pseudo_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    record = read_provenance(folder)
    entries = record.setdefault("datasets", {})
    changed = False
    for name in names:
        ds, path, old = PSLIBRARY_DATASETS[name], folder / name, entries.get(name, {})
        text = ld1_input(ds)
        if path.is_file() and not force:
            content = upf_content_sha256(path)
            ours = old.get("origin") == "generated" and old.get("content_sha256") == content
            if ours and old.get("parameters_sha256") == hashlib.sha256(
                    text.encode()).hexdigest():
                if verbose:
                    print(f"[pseudo] reusing {path}")
                continue
            if not ours:
                if old.get("origin") != "external" or old.get("content_sha256") != content:
                    entries[name] = {"element": ds.element, "origin": "external",
                                     "sha256": _sha256(path), "content_sha256": content}
                    changed = True
                if verbose:
                    print(f"[pseudo] using {path} as it is (not written by lidiff)")
                continue
        if shutil.which(ld1) is None:
            raise LabellingError(
                f"cannot generate {name} in {folder}: {ld1} not found on PATH (Quantum "
                "ESPRESSO's atomic code; Debian: apt-get install quantum-espresso)")
        if verbose:
            print(f"[pseudo] generating {path} with {ld1}")
        entries[name] = _generate_one(ds, folder, ld1)
        changed = True
    if changed:
        record.update(generator="lidiff_helpers.training.pseudopotentials",
                      pslibrary={"version": PSLIBRARY_VERSION,
                                 "repository": PSLIBRARY_REPOSITORY,
                                 "commit": PSLIBRARY_COMMIT, "licence": "GPL-2.0"})
        _write_provenance(folder, record)
    return folder


# ----------------------------------------------------------------------------- CLI

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lidiff_helpers.training.pseudopotentials``: generate (or reuse) the
    datasets and print the folder, the hashes and ld1.x's test results."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.training.pseudopotentials",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="folder (default $LIDIFF_PSEUDO_DIR or "
                    "the lidiff cache)")
    ap.add_argument("names", nargs="*", default=list(STUDY_DATASETS),
                    help=f"UPF names (default the study's; known: {sorted(PSLIBRARY_DATASETS)})")
    ap.add_argument("--ld1", default="ld1.x")
    ap.add_argument("--force", action="store_true", help="regenerate")
    a = ap.parse_args(argv)
    try:
        folder = generate_pseudopotentials(a.dir, a.names, ld1=a.ld1, force=a.force,
                                           verbose=True)
    except LabellingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    entries = read_provenance(folder).get("datasets", {})
    print(folder.resolve())
    for name in a.names:
        e = entries.get(name, {})
        print(f"{name}\n  sha256          {e.get('sha256')}\n"
              f"  content_sha256  {e.get('content_sha256')}  (date blanked)")
        if e.get("origin") == "generated":
            print(f"  z_valence {e['z_valence']:g}, {e['pseudo_type']}, ld1.x "
                  f"{e['ld1_version']}; AE-PAW test: max |Delta E| "
                  f"{e['max_abs_delta_E_Ry']:.1e} Ry, max |De| "
                  f"{e['max_abs_eigenvalue_error_Ry']:.1e} Ry")
        else:
            print("  (not written by lidiff: used as it is)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
