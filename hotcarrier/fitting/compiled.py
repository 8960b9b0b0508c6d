"""Compiled programs, ahead of time, kept on disk: a warm process skips tracing, lowering
and compiling.

JAX's persistent compilation cache only skips the XLA compilation: a fresh process still
traces and lowers every program to compute the cache key (about 1.4 s of a warm Hippius fit).
:func:`compiled` keys a program by what determines it instead — a caller's key (the model's
structure, the static options), the argument shapes and dtypes, the versions of jax, jaxlib
and this package's source, float64 and ``XLA_FLAGS`` — and stores the serialized executable
(``jax.experimental.serialize_executable``) in ``<JAX compilation cache dir>/hotcarrier-aot``.
A hit is one file read and an executable load (about 0.1 s per MB of program). A program
that JAX's own persistent cache serves is compiled once more with that cache off, since a
served executable serializes without its code. Without a cache folder
(``jax_compilation_cache_dir`` unset, e.g. a plain Python session) the programs are only
kept in memory for the process. A program with a host callback is never written (a callback
cannot be serialized).

:func:`compile_all` compiles the missing programs concurrently, each as soon as it is lowered
(XLA compiles without the GIL, so the next program is traced meanwhile): on two cores a cold
fit pays about the largest lowering + compile, not the sum.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax
import numpy as np

from .._source import source_digest

__all__ = ["compiled", "compile_all", "stored", "bucket", "cache_folder", "clear_memory",
           "CHEAP_COMPILE", "LIGHT_COMPILE"]

CHEAP_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
                 "xla_cpu_use_fusion_emitters": False}
"""XLA options that compile a program 3–6 times faster and run it 2–3.5 times slower (the
Hippius minimiser: 3.3 → 1.0 s compile CPU, 0.85 → 3.0 s run CPU): for programs whose
compilation is most of their cost."""

LIGHT_COMPILE = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}
"""XLA options that compile a program about twice as fast and run it ≤ 25 % slower (XLA's
classic fusion emitters, LLVM's O1; the Hippius point program: 3.0 → 1.5 s compile CPU): for
programs evaluated a few times per fit."""

_FRESH = {"xla_cpu_enable_fast_math": False}
"""An XLA option at its default value (see :func:`compile_all`)."""

_MEMORY: dict = {}
_LISTENING: list = []
_THREAD = threading.local()


def cache_folder() -> Path | None:
    """Folder of the serialized programs (None: JAX's persistent cache is not configured)."""
    folder = jax.config.jax_compilation_cache_dir
    if not folder or not jax.config.jax_enable_compilation_cache:
        return None
    return Path(folder) / "hotcarrier-aot"


def clear_memory() -> None:
    """Forget the programs held in memory (the disk copies stay)."""
    _MEMORY.clear()


def _listen_for_cache_hits() -> None:
    """Note, per thread, when JAX serves a compilation from its persistent cache."""
    if _LISTENING:
        return
    from jax import monitoring

    def on_event(event, **_):
        if event == "/jax/compilation_cache/cache_hits":
            _THREAD.hit = True

    monitoring.register_event_listener(on_event)
    _LISTENING.append(True)


def _initialize_lapack() -> None:
    """Point jaxlib's LAPACK kernels at their implementations before a program is loaded.

    jaxlib fills them in when a linear-algebra operation is first *lowered*; a program read
    from disk may hold LAPACK calls (``eigh`` of the Gauss–Poisson nodes in every physical
    fit) in a process that lowered none, and running it then dereferences null pointers
    (a segmentation fault). ``jax.export`` does the same before deserializing.
    """
    try:
        from jax._src.lax.linalg import initialize_lapack
    except ImportError:  # pragma: no cover — a jax without it initialises on load
        return
    initialize_lapack()


def _signature(args, kwargs) -> str:
    """Tree structure, shapes, dtypes and weak types of the arguments (static callables by
    their type only: the caller's key names them)."""
    def leaf(x):
        if callable(x):
            return type(x).__name__
        dtype = x.dtype if hasattr(x, "dtype") else np.result_type(x)
        weak = getattr(x, "weak_type", False) or isinstance(x, (bool, int, float, complex))
        return np.shape(x), str(dtype), bool(weak)

    leaves, tree = jax.tree.flatten((args, kwargs))
    return repr((str(tree), [leaf(x) for x in leaves]))


def _disk_key(key: str, sig: str) -> str:
    import jaxlib

    parts = (key, sig, jax.__version__, jaxlib.__version__, source_digest(),
             bool(jax.config.jax_enable_x64), os.environ.get("XLA_FLAGS", ""),
             jax.default_backend(), jax.devices()[0].device_kind, len(jax.devices()))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class _Request:
    """One program to provide: ``fn.lower(*args, **kwargs).compile()`` (``fn`` jitted)."""

    def __init__(self, fn, key: str, args, kwargs, persist: bool, options=None):
        self.fn, self.args, self.kwargs, self.persist = fn, args, kwargs, persist
        # HOTCARRIER_PROGRAM_XLA_OPTIONS=0: the process's XLA_FLAGS only (the tests set it:
        # their flags are cheaper than any program's own)
        keep = os.environ.get("HOTCARRIER_PROGRAM_XLA_OPTIONS", "1") != "0"
        self.options = dict(options or {}) if keep else {}
        self.sig = _signature(args, kwargs)
        key = f"{key}|{sorted(self.options.items())}"
        self.memory_key = (key, self.sig)
        folder = cache_folder() if persist else None
        self.path = folder / f"{_disk_key(key, self.sig)}.bin" if folder else None
        self.lowered = None
        self.served = False

    def load(self):
        """The program from memory or disk, else None."""
        hit = _MEMORY.get(self.memory_key)
        if hit is not None or self.path is None or not self.path.is_file():
            return hit
        from jax.experimental.serialize_executable import deserialize_and_load

        try:
            payload, in_tree, out_tree, custom_calls = pickle.loads(self.path.read_bytes())
            if custom_calls:  # 65 ms, only for programs that call LAPACK (or other kernels)
                _initialize_lapack()
            exe = deserialize_and_load(payload, in_tree, out_tree)
        except Exception:  # noqa: BLE001 — a stale or damaged entry is recompiled
            return None
        _MEMORY[self.memory_key] = exe
        return exe

    def lower(self):
        self.lowered = self.fn.lower(*self.args, **self.kwargs)

    def compile(self, x64: bool = True, extra_options=None):
        _listen_for_cache_hits()
        _THREAD.hit = False
        options = {**self.options, **(extra_options or {})}
        with jax.enable_x64(x64):  # the caller's setting (thread-local) in a worker thread
            exe = (self.lowered.compile(compiler_options=options) if options
                   else self.lowered.compile())
        _MEMORY[self.memory_key] = exe
        # an executable that JAX itself read from its persistent cache serializes without its
        # code (loading it fails at run time): only freshly compiled programs are written;
        # a served one is compiled again by compile_all (:func:`_without_jax_cache`)
        self.served = self.path is not None and _THREAD.hit
        if self.path is not None and not self.served:
            self._store(exe)
        if not self.served:  # (a served one is compiled again from the same lowering)
            self.lowered = None
        return exe

    def _store(self, exe):
        from jax.experimental.serialize_executable import serialize

        from ..io.atomic import atomic_open

        try:
            # whether the program calls external kernels (LAPACK): only then does loading it
            # need jaxlib's LAPACK initialisation
            custom_calls = "custom_call_target=" in exe.as_text()
            blob = pickle.dumps((*serialize(exe), custom_calls))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(self.path) as fh:
                fh.write(blob)
        except Exception:  # noqa: BLE001 — a cache that cannot be written is no error
            pass


def stored(requests) -> bool:
    """True when every program of ``requests`` (as :func:`compile_all`) is in memory or on
    disk: :func:`compile_all` would load them, not compile (nothing is loaded here)."""
    return all(r.memory_key in _MEMORY or (r.path is not None and r.path.is_file())
               for r in (_Request(*q) for q in requests))


def bucket(n: int) -> int:
    """The array length a program is compiled for: ``n`` rounded up to four significant
    bits (…, 31, 32, 34, …, 62, 64, 68, …; at most 6.25 % padding, 335 → 336, 346 → 352), so
    that datasets of similar size share one compiled program (in memory and on disk).
    Three bits (≤ 12.5 %) made the warm Hippius fit 3 % slower; four cost ~1 %."""
    n = int(n)
    if n <= 16:
        return n
    e = n.bit_length() - 5
    return -(-n >> e) << e


def compile_all(requests) -> list:
    """Compiled programs for ``requests`` = [(fn, key, args, kwargs, persist[, options]), ...].

    ``fn`` is a ``jax.jit``-wrapped function; ``args``/``kwargs`` are example arguments
    (arrays or ``jax.ShapeDtypeStruct``; static arguments by keyword, as ``fn`` declares
    them) and the returned programs are called with the dynamic ones only, in the same
    structure. ``key`` must name everything else the program depends on (the model's
    structure, a bound objective's identity): two requests with equal keys and argument
    shapes share one program, in memory and on disk (``persist``; off for programs with
    host callbacks). ``options``: XLA compiler options of this program only (e.g.
    :data:`CHEAP_COMPILE` for a program that compiles for long and runs a few iterations).
    Missing programs are lowered one after the other, in the order given, and each is
    compiled as soon as it is lowered, in a worker thread, while the next one is traced (list
    the program that compiles longest first: its compilation then starts first).
    ``HOTCARRIER_COMPILE_THREADS=1`` compiles them one after the other instead.
    """
    reqs = [_Request(*r) for r in requests]
    out = [r.load() for r in reqs]
    todo = [i for i, e in enumerate(out) if e is None]
    x64 = bool(jax.config.jax_enable_x64)
    if len(todo) > 1 and _compile_threads() > 1:
        with ThreadPoolExecutor(len(todo)) as pool:
            running = []
            for i in todo:  # XLA compiles without the GIL: tracing the next one overlaps
                reqs[i].lower()
                running.append((i, pool.submit(reqs[i].compile, x64)))
            for i, job in running:
                out[i] = job.result()
    else:
        for i in todo:
            reqs[i].lower()
            out[i] = reqs[i].compile(x64)
    served = [i for i in todo if reqs[i].served]
    if served:  # left unwritten, every later process would trace and lower them again
        with _without_jax_cache():
            for i in served:
                # JAX keeps executables in memory by program and options: an option at its
                # default value makes it compile anew (not written to JAX's cache, which is off)
                out[i] = reqs[i].compile(x64, _FRESH)
    return out


@contextlib.contextmanager
def _without_jax_cache():
    """JAX's persistent compilation cache off for the block (then on again, as it was).

    Used, after the concurrent compilations, for programs that JAX's cache served: their
    executables serialize without their code, so they are compiled once more to be written
    (a cache folder shared by two versions of the package, a deleted entry)."""
    from jax.experimental.compilation_cache import compilation_cache as jax_cache

    was = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    jax_cache.reset_cache()
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", was)
        jax_cache.reset_cache()


def _compile_threads() -> int:
    """Programs compiled at once: ``HOTCARRIER_COMPILE_THREADS`` (default 2; 1 compiles one
    after the other, which halves the compiler's peak memory)."""
    try:
        return max(1, int(os.environ.get("HOTCARRIER_COMPILE_THREADS", "2")))
    except ValueError:
        return 2


def compiled(fn, key: str, *args, persist: bool = True, **kwargs):
    """One program of :func:`compile_all`: ``compiled(fn, key, *args, **kwargs)``."""
    return compile_all([(fn, key, args, kwargs, persist)])[0]
