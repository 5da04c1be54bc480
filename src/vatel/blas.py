"""numpy's BLAS on the calling thread only, for every vatel process.

numpy's OpenBLAS starts a helper thread for each further core, and after every matrix product
that thread spins for a while, waiting for more work. vatel does a small product every few
milliseconds (the end-of-turn model's mel filters, the recognisers' features, the echo
canceller's alignment), so on a 2-core machine the helper kept most of a core busy doing nothing:
80 % in a micro-benchmark of one product per 10 ms, 6 % of a core per call in ``vatel serve``,
taken from the engines that had work to do. Our matrices are small; one thread is as fast.

:func:`single_threaded_blas` sets ``OPENBLAS_NUM_THREADS=1`` (for numpy loaded later, here or in a
child process) and, when numpy is already loaded, asks OpenBLAS itself. It leaves OpenMP alone:
CTranslate2 (Whisper) sizes its own threads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_MAPS = Path("/proc/self/maps")


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux; elsewhere none)."""
    try:
        lines = _MAPS.read_text().splitlines()
    except OSError:
        return []
    paths = {line.split(maxsplit=5)[-1] for line in lines if "openblas" in line.rsplit("/", 1)[-1].lower()}
    return sorted(path for path in paths if path.startswith("/"))


def single_threaded_blas() -> bool:
    """Make numpy's BLAS use one thread; ``False`` when numpy is loaded and its BLAS could not be
    told (not OpenBLAS, or not Linux): harmless, only slower."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if "numpy" not in sys.modules:
        return True
    for path in _loaded_openblas():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(1)
                return True
    return False
