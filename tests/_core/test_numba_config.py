"""The threading layer the kit selects must survive kernels called from several threads."""

import subprocess
import sys
import textwrap


def test_threadsafe_layer_runs_parallel_kernels_from_threads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = textwrap.dedent(f"""
        from effdl_kit._core.numba_config import configure_numba
        assert configure_numba(cache_dir={str(tmp_path / 'cache')!r}) == "threadsafe"
        import numpy as np, numba
        from concurrent.futures import ThreadPoolExecutor

        @numba.njit(parallel=True, cache=True)
        def total(x):
            s = 0.0
            for i in numba.prange(x.size):
                s += x[i]
            return s

        x = np.arange(100_000, dtype=np.float64)
        with ThreadPoolExecutor(4) as ex:
            out = list(ex.map(lambda _: total(x), range(16)))
        assert all(v == x.sum() for v in out), out
        print(numba.threading_layer())
    """)
    script = tmp_path / "kernel_script.py"  # caching needs a real source file
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() in ("omp", "tbb")
    cached = list((tmp_path / "cache").rglob("*.nbi"))
    assert cached, "kernel was not cached in the configured directory"


def test_bad_layer_named() -> None:
    import pytest

    from effdl_kit._core.errors import ConfigError
    from effdl_kit._core.numba_config import configure_numba

    with pytest.raises(ConfigError, match="'threading_layer'"):
        configure_numba("fastest")
