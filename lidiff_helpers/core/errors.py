"""lidiff's exceptions: one base class, one subclass per kind of problem.

Every error lidiff raises on purpose is a :class:`LidiffError`, so a notebook or a script
can catch "lidiff refused this" in one ``except``. Each subclass also derives from the
built-in exception that earlier code raised for the same problem (``ValueError``,
``KeyError``, ``FileNotFoundError``, ``RuntimeError``), so ``except ValueError`` keeps
working.

Messages name where the problem is (file, frame, step, line or parameter) and what it is;
bad input is refused before any work starts (``InputError`` and its subclasses).

=======================  ===============================================================
class                    raised when
=======================  ===============================================================
InputError               bad input in general (a file, an argument)
DataError                a study data frame fails validation (keys, shapes, species)
DataIntegrityError       a study file's SHA256 differs from the registry
TrajectoryError          a trajectory or LAMMPS dump file is malformed or unusable
WrappedTrajectoryError   positions are wrapped into the box (MSD needs unwrapped ones)
ParameterError           a notebook / profile / run parameter has the wrong type or value
SelectionError           a training-subset selection is impossible or overlaps the test set
CheckpointError          an MD checkpoint cannot be read
ModelFileError           a model file is not a MACE model
UnknownParameterError    a parameter name no profile declares
DataUnavailableError     a study file is neither local nor downloadable
ModelUnavailableError    model weights are missing (with the download hint)
ResultExistsError        writing would overwrite an existing result
StaleResultError         a stored result was made with another model than the current one
TrainingError            ``mace_run_train`` failed
LabellingError           a DFT / surrogate labeller failed
MDGuardError             an MD run left the physical guard rails
=======================  ===============================================================
"""

from __future__ import annotations

__all__ = [
    "LidiffError", "InputError", "DataError", "DataIntegrityError", "TrajectoryError",
    "WrappedTrajectoryError", "ParameterError", "SelectionError", "CheckpointError",
    "ModelFileError", "UnknownParameterError", "DataUnavailableError",
    "ModelUnavailableError", "ResultExistsError", "StaleResultError", "TrainingError", "LabellingError",
    "MDGuardError",
]


class LidiffError(Exception):
    """Base class of every error lidiff raises on purpose."""


class InputError(LidiffError, ValueError):
    """Bad input: the message names the file (frame, step, line) or parameter."""


class DataError(InputError):
    """A study data frame fails validation."""


class DataIntegrityError(DataError):
    """A study file's SHA256 differs from the registry."""


class TrajectoryError(InputError):
    """A trajectory (lidiff format or LAMMPS dump) is malformed or unusable."""


class WrappedTrajectoryError(TrajectoryError):
    """Positions are wrapped into the periodic box; MSD needs unwrapped positions."""


class ParameterError(InputError):
    """A parameter (notebook profile, run setting, function argument) is wrong."""


class SelectionError(InputError):
    """A training-subset selection is impossible or overlaps the held-out test set."""


class CheckpointError(InputError):
    """An MD checkpoint cannot be read (corrupt or from another run)."""


class ModelFileError(InputError):
    """A path given as a model is not a MACE model file."""


class UnknownParameterError(LidiffError, KeyError):
    """A parameter name that no profile declares."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class DataUnavailableError(LidiffError, FileNotFoundError):
    """A study file is neither in ``$LIDIFF_DATA_DIR``/the cache nor downloadable."""


class ModelUnavailableError(LidiffError, FileNotFoundError):
    """A model's weights are missing; the message says where to put them."""


class ResultExistsError(LidiffError, FileExistsError):
    """Writing would overwrite an existing result (results are never overwritten)."""


class StaleResultError(LidiffError, ValueError):
    """A stored result (benchmark, metrics) was measured on another model than the current
    one (SHA256 differs): regenerate it with the command it records."""


class TrainingError(LidiffError, RuntimeError):
    """``mace_run_train`` failed or produced no model."""


class LabellingError(LidiffError, RuntimeError):
    """A labeller (Quantum ESPRESSO or surrogate) failed."""


class MDGuardError(LidiffError, RuntimeError):
    """An MD run left the physical guard rails (close pair, temperature, energy drift).

    ``failure`` holds the run, the check, the step and the value.
    """

    def __init__(self, message: str, failure: dict | None = None):
        super().__init__(message)
        self.failure = dict(failure or {})
