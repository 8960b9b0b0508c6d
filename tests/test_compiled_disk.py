"""Programs kept on disk (hotcarrier.fitting.compiled): one with a LAPACK call runs when a
fresh process loads it.

Every physical fit's program holds one (``eigh`` of the Gauss–Poisson trap-count nodes); a
process that loads it without having lowered any linear algebra found jaxlib's LAPACK
kernels unset and crashed with a segmentation fault on the second ``hotcarrier fit`` run.
"""

import json
import subprocess
import sys

import numpy as np

CHILD = r"""
import json, sys
import jax, jax.numpy as jnp
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
from hotcarrier.fitting.compiled import cache_folder, compiled
a = jnp.arange(9.0, dtype=jnp.float32).reshape(3, 3) / 10
on_disk = cache_folder().is_dir() and any(cache_folder().iterdir())
exe = compiled(jax.jit(lambda m: jnp.linalg.eigh(m @ m.T + jnp.eye(3))[0]), "test.eigh", a)
print(json.dumps({"loaded": on_disk, "eig": [float(v) for v in exe(a)]}))
"""


def _two_processes(child: str, folder, timeout: float = 120) -> list:
    """The JSON line each of two fresh processes running ``child`` prints (the first
    compiles and writes the cache folder, the second loads from it)."""
    out = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", child, str(folder)], capture_output=True,
                           text=True, check=False, timeout=timeout)
        assert r.returncode == 0, r.stderr[-2000:]
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return out


def test_program_with_a_lapack_call_runs_after_loading_from_disk(tmp_path):
    out = _two_processes(CHILD, tmp_path)
    assert [o["loaded"] for o in out] == [False, True]
    a = np.arange(9.0).reshape(3, 3) / 10
    want = np.linalg.eigvalsh(a @ a.T + np.eye(3))
    for o in out:
        np.testing.assert_allclose(o["eig"], want, rtol=1e-5)


CHILD_PLAIN = r"""
import json, sys
import jax, jax.numpy as jnp
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
from hotcarrier.fitting import compiled as c
calls = []
c._initialize_lapack = lambda: calls.append(1)  # a program without kernels must not need it
a = jnp.arange(9.0, dtype=jnp.float32).reshape(3, 3) / 10
on_disk = c.cache_folder().is_dir() and any(c.cache_folder().iterdir())
exe = c.compiled(jax.jit(lambda m: jnp.exp(m) @ m), "test.plain", a)
print(json.dumps({"loaded": on_disk, "init": len(calls), "v": exe(a).ravel().tolist()}))
"""


def test_program_without_kernels_loads_without_lapack_initialisation(tmp_path):
    out = _two_processes(CHILD_PLAIN, tmp_path)
    assert [o["loaded"] for o in out] == [False, True]
    assert out[1]["init"] == 0
    a = np.arange(9.0).reshape(3, 3) / 10
    for o in out:
        np.testing.assert_allclose(o["v"], (np.exp(a) @ a).ravel(), rtol=1e-6)


CHILD_BATCH = r"""
import json, sys
import numpy as np
import jax
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
from scipy.special import erfc
from hotcarrier.batch import fit_arrays
from hotcarrier.fitting.compiled import cache_folder
from hotcarrier.target.model import TargetModel
t = np.concatenate([np.linspace(-1.0, 3.0, 24), np.geomspace(3.2, 150.0, 24)])
wl = np.linspace(450.0, 650.0, 8)
k, s = np.array([0.5, 0.05]), 0.3 / 2.3548
c = (0.5 * np.exp(-k * t[:, None] + 0.5 * (k * s) ** 2)
     * erfc((k * s * s - t[:, None]) / (s * 2 ** 0.5)))
S = np.stack([np.exp(-0.5 * ((wl - 500) / 40) ** 2), -np.exp(-0.5 * ((wl - 600) / 40) ** 2)])
rng = np.random.default_rng(0)
maps = 1e-2 * (c @ S)[None] + rng.normal(0, 1e-4, (3, t.size, wl.size))
before = sorted(p.name for p in cache_folder().glob("*.bin")) if cache_folder().is_dir() else []
ds = fit_arrays(TargetModel.from_scheme("parallel", [3.0, 15.0], irf_fwhm=0.3), t, wl, maps)
after = sorted(p.name for p in cache_folder().glob("*.bin"))
print(json.dumps({"before": before, "after": after,
                  "tau": ds["value"].sel(param=["tau1", "tau2"]).values.tolist()}))
"""


def test_batch_program_is_kept_on_disk(tmp_path):
    # a batch's vmapped program is stored like a single fit's; the second process loads it
    # (writes nothing new) and gives the same fits
    out = _two_processes(CHILD_BATCH, tmp_path, timeout=300)
    assert out[0]["before"] == [] and out[0]["after"]
    assert out[1]["before"] == out[1]["after"] == out[0]["after"]
    np.testing.assert_allclose(out[1]["tau"], out[0]["tau"], rtol=1e-12)
    np.testing.assert_allclose(np.array(out[0]["tau"]), [[2.0, 20.0]] * 3, rtol=0.05)


CHILD_SERVED = r"""
import json, sys
import jax, jax.numpy as jnp
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
from hotcarrier.fitting import compiled as c
folder = c.cache_folder()
a = jnp.linspace(0.0, 1.0, 7)
before = sorted(p.name for p in folder.glob("*.bin")) if folder.is_dir() else []
lowered = []
orig = c._Request.lower
c._Request.lower = lambda self: (lowered.append(1), orig(self))[1]
exe = c.compiled(jax.jit(lambda x: jnp.cumsum(jnp.sin(x))), "test.served", a)
print(json.dumps({"before": before, "lowered": len(lowered),
                  "after": sorted(p.name for p in folder.glob("*.bin")),
                  "v": exe(a).tolist(), "jax_cache_on": jax.config.jax_enable_compilation_cache}))
"""


def test_program_served_by_jax_cache_is_written_for_later_processes(tmp_path):
    # JAX's own persistent cache serves an executable without its code; when it does (our
    # entry deleted, or a cache folder shared by two package versions), the program is
    # compiled once more with JAX's cache off and written, so the next process loads it
    first = _two_processes(CHILD_SERVED, tmp_path)[0]
    assert first["after"] and first["lowered"] == 1
    for _ in range(2):  # twice: JAX's cache must not serve the second compilation either
        for f in first["after"]:
            (tmp_path / "hotcarrier-aot" / f).unlink()  # JAX's entry stays
        served, later = _two_processes(CHILD_SERVED, tmp_path)
        assert served["before"] == [] and served["after"] == first["after"]
        assert served["lowered"] == 1 and later["lowered"] == 0
        assert served["jax_cache_on"] and later["jax_cache_on"]
    np.testing.assert_allclose(later["v"], np.cumsum(np.sin(np.linspace(0, 1, 7))), rtol=1e-6)
