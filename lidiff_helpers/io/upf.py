"""UPF pseudopotential files (Quantum ESPRESSO's format): the few operations lidiff needs.

:func:`wrap_upf_lines` splits the long numeric lines ``ld1.x`` 6.7 writes, which its own
``pw.x`` 6.7 cannot read back; :func:`upf_header` reads the ``<PP_HEADER>`` attributes;
:func:`upf_content_sha256` hashes a file with its generation date blanked, so that the
same dataset made on another day has the same hash.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from lidiff_helpers.core.errors import LabellingError

__all__ = ["upf_content_sha256", "upf_header", "wrap_upf_lines"]


def wrap_upf_lines(path: Path, per_line: int = 4) -> None:
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


def upf_header(path: str | os.PathLike) -> dict[str, str]:
    """Attributes of a UPF v2 file's ``<PP_HEADER .../>`` (``z_valence``,
    ``pseudo_type``, ``wfc_cutoff``, ...), as strings."""
    text = Path(path).read_text(errors="replace")
    m = re.search(r"<PP_HEADER\b(.*?)/?>", text, flags=re.DOTALL)
    if not m:
        raise LabellingError(f"{path}: no <PP_HEADER> (not a UPF v2 file?)")
    return {k: v.strip() for k, v in re.findall(r'(\w+)="([^"]*)"', m.group(1))}


_DATE_LINE = re.compile(r"^(\s*Generation date:).*$", flags=re.MULTILINE)
_DATE_ATTR = re.compile(r'(<PP_HEADER\b[^>]*?\bdate=")[^"]*(")', flags=re.DOTALL)


def _normalized(text: str) -> str:
    return _DATE_ATTR.sub(r"\1\2", _DATE_LINE.sub(r"\1", text))


def upf_content_sha256(path: str | os.PathLike) -> str:
    """SHA256 of a UPF file with its generation date blanked (the ``Generation date:``
    line of ``PP_INFO`` and the ``date`` attribute of ``PP_HEADER``): the same for every
    generation by one ``ld1.x`` build, whatever the day."""
    return hashlib.sha256(_normalized(Path(path).read_text()).encode()).hexdigest()
