"""numpy's BLAS runs on the calling thread only (``vatel.blas``): no helper thread spinning after
each small matrix product."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

# A process that does what vatel does: a small product every 10 ms for 1.5 s; it prints the CPU
# seconds of every thread but the main one.
PROBE = textwrap.dedent(
    """
    import os, sys, time
    import numpy
    if sys.argv[1] == "after":
        from vatel.blas import single_threaded_blas
        assert single_threaded_blas()
    a = numpy.random.rand(200, 257).astype(numpy.float32)
    b = numpy.random.rand(257, 80).astype(numpy.float32)
    def cpu(tid):
        fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    others = [t for t in os.listdir("/proc/self/task") if int(t) != os.getpid()]
    before = {t: cpu(t) for t in others}
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        a @ b
        time.sleep(0.01)
    print(sum(cpu(t) - before[t] for t in others))
    """
)


def helper_cpu(mode: str) -> float:
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    return float(done.stdout.strip())


LINUX_SMP = os.path.isdir("/proc/self/task") and (os.cpu_count() or 1) >= 2


@pytest.mark.skipif(not LINUX_SMP, reason="needs Linux and 2+ cores (OpenBLAS's helper threads)")
def test_no_blas_thread_spins_once_numpy_is_told() -> None:
    untold = helper_cpu("none")
    if untold < 0.1:
        pytest.skip(f"this OpenBLAS does not spin here ({untold:.2f} s): nothing to compare")
    # Told after numpy loaded (the library call), as an embedding program would do.
    assert helper_cpu("after") < 0.1 < untold


def test_the_cli_sets_it_before_any_command_runs() -> None:
    probe = textwrap.dedent(
        """
        import contextlib, os
        from vatel.cli import main
        with contextlib.suppress(SystemExit):
            main(["--help"])
        print(os.environ.get("OPENBLAS_NUM_THREADS"))
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    assert done.stdout.strip().splitlines()[-1] == "1"
