"""TOML model files → :class:`~hotcarrier.target.model.TargetModel` (format: docs/model-file.md).

Every problem in a file is collected and reported in one :class:`ModelError` that names the
file, e.g.::

    model.toml: 2 problem(s):
      - [parameters.k3]: unknown key 'vaule' (allowed: value, min, max, fixed, expr, unit)
      - transfers[2]: missing 'rate'
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from ..errors import ModelError
from .model import (IRF, OSCILLATION_UNITS, Constraint, DatasetModel, EqualArea, Guide,
                    MeasuredIRF, Oscillation, Parameter, ParameterSet, Relation, SpectralShape,
                    TargetModel, TimeZeroShift, Transfer, Weight)

__all__ = ["load_target_model", "parse_model", "read_model_text", "is_physical_model_file",
           "did_you_mean", "MAX_MODEL_FILE_BYTES"]

_TOP = {"model", "parameters", "transfers", "irf", "relations", "constraints", "weights",
        "preprocess", "datasets", "oscillations", "guides", "equal_area", "shapes"}
_MODEL = {"name", "compartments", "initial", "normalize_initial", "coherent_artifact",
          "baseline", "link_spectra", "scheme", "artifact_width", "non_negative"}
_GUIDE = {"species", "file", "wavelength", "values", "weight"}
_AREA = {"source", "target", "source_intervals", "target_intervals", "parameter", "weight"}
_SHAPE = {"species", "type", "amplitude", "location", "width", "skewness"}
_PARAM = {"value", "min", "max", "fixed", "expr", "unit"}
_IRF = {"center", "width", "dispersion_center", "center_dispersion", "width_dispersion",
        "extra", "measured", "t0_shift", "wavenumber_dispersion"}
_OSC = {"label", "frequency", "rate", "unit"}
_MEASURED = {"file", "times", "values", "spacing"}
_T0_SHIFT = {"value", "min", "max", "reference"}
_PRE = {"bad_values", "merge_duplicate_delays", "background_before", "chirp", "time_range",
        "wavelength_range", "exclude", "solvent", "solvent_scale", "solvent_outside", "read"}
_DS = {"name", "irf", "scale", "weights"}


def load_target_model(path) -> TargetModel:
    """Read a TOML model file.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    TargetModel

    Raises
    ------
    ModelError
        Naming the file and listing every problem.
    """
    p = Path(path)
    return parse_model(read_model_text(p), source=str(p))


MAX_MODEL_FILE_BYTES = 1 << 20
"""A model file is text of a few kB; larger files (1 MiB) are refused before parsing."""


def is_physical_model_file(path) -> bool:
    """True when ``path`` is a TOML model file with ``[model] type = "hotcarrier"`` (the
    physical model; read as TOML only, nothing of the physics package is imported)."""
    try:
        cfg = tomllib.loads(read_model_text(path))
    except (ModelError, tomllib.TOMLDecodeError, RecursionError):
        return False
    m = cfg.get("model")
    return isinstance(m, dict) and m.get("type") in ("hotcarrier", "physical")


def read_model_text(path) -> str:
    """The UTF-8 text of a model file (a regular file of at most 1 MiB); raises ModelError."""
    from ..errors import DataFormatError
    from ..io._common import read_bytes

    try:
        raw = read_bytes(path, limit=MAX_MODEL_FILE_BYTES, what="model file")
    except DataFormatError as exc:
        raise ModelError(f"model file {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: the model file is not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start}); save it as UTF-8") from None


def did_you_mean(name: str, allowed) -> str:
    """``"; did you mean 'x'?"`` for the closest allowed name, or ``""``."""
    import difflib

    near = difflib.get_close_matches(str(name), sorted(allowed), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


class _Checker:
    """Typed reads of model-file values; every problem is collected, a default returned."""

    def __init__(self, problems: list):
        self.problems = problems

    def bad(self, where: str, v, expected: str):
        self.problems.append(f"{where} = {v!r}: expected {expected}")

    def number(self, v, where, default=math.nan, *, finite=True):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.bad(where, v, "a number (without quotes)")
            return default
        if finite and not math.isfinite(v):
            self.bad(where, v, "a finite number")
            return default
        return float(v)

    def boolean(self, v, where, default=False):
        if not isinstance(v, bool):
            self.bad(where, v, "true or false (without quotes)")
            return default
        return v

    def integer(self, v, where, lo, hi, default=0):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.bad(where, v, f"a whole number from {lo} to {hi}")
            return default
        return v

    def text(self, v, where, default=""):
        if not isinstance(v, str):
            self.bad(where, v, "a text in quotes")
            return default
        return v

    def expr(self, v, where, default="0"):
        """A parameter name, expression (text) or number."""
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            self.bad(where, v, "a parameter name, an expression in quotes or a number")
            return default
        return str(v)

    def interval(self, v, where, default=(-math.inf, math.inf)):
        if (not isinstance(v, list) or len(v) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                           and not math.isnan(x) for x in v)):
            self.bad(where, v, "two numbers [low, high]")
            return default
        if not v[0] < v[1]:
            self.bad(where, v, f"[low, high] with low < high, e.g. [{min(v)}, {max(v)}]")
            return default
        return float(v[0]), float(v[1])

    def names(self, v, where):
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.bad(where, v, "a list of names in quotes")
            return []
        return v


def _check_preprocess(pre: dict, ck: _Checker) -> None:
    """Types and ranges of the [preprocess] options (the data are not needed)."""
    for k in ("bad_values", "background_before"):
        if k in pre:
            v = ck.number(pre[k], f"[preprocess] {k}", None)
            if k == "bad_values" and v is not None and v <= 0:
                ck.bad(f"[preprocess] {k}", v, "a threshold > 0")
    for k in ("time_range", "wavelength_range"):
        if k in pre:
            ck.interval(pre[k], f"[preprocess] {k}")
    if "exclude" in pre:
        ex = pre["exclude"]
        if not isinstance(ex, list) or not all(isinstance(b, list) for b in ex):
            ck.bad("[preprocess] exclude", ex, "a list of [low, high] bands, e.g. [[500, 520]]")
        else:
            for i, b in enumerate(ex):
                ck.interval(b, f"[preprocess] exclude[{i}]")
    if "merge_duplicate_delays" in pre:
        ck.boolean(pre["merge_duplicate_delays"], "[preprocess] merge_duplicate_delays")
    if "read" in pre:
        from ..preprocess import READ_OPTIONS

        rd = pre["read"]
        if not isinstance(rd, dict):
            ck.bad("[preprocess] read", rd, "a table of reader overrides, e.g. "
                   "read = {time_unit = \"fs\", signal_units = \"mOD\"}")
        else:
            for k, v in rd.items():
                if k not in READ_OPTIONS:
                    ck.bad(f"[preprocess] read.{k}", v, f"one of {', '.join(READ_OPTIONS)}")
                elif k == "check_axes":
                    ck.boolean(v, "[preprocess] read.check_axes")
                elif not isinstance(v, str):
                    ck.bad(f"[preprocess] read.{k}", v, "a text, e.g. \"fs\"")
    if "chirp" in pre:
        c = pre["chirp"]
        if not (isinstance(c, str) or (isinstance(c, list) and c and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in c))):
            ck.bad("[preprocess] chirp", c, "a file name, \"auto\" or a list of coefficients")


def parse_model(text: str, source: str = "<model>") -> TargetModel:
    """Parse TOML model text (see :func:`load_target_model`)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ModelError(f"{source}: not valid TOML (nested too deeply)") from None
    problems: list[str] = []

    ck = _Checker(problems)

    def unknown(d, allowed, where):
        if isinstance(d, dict):
            for k in d:
                if k not in allowed:
                    problems.append(f"{where}: unknown key {k!r}{did_you_mean(k, allowed)} "
                                    f"(allowed: {', '.join(sorted(allowed))})")

    def table(key, where, kind=dict):
        v = doc.get(key, kind())
        if not isinstance(v, kind):
            problems.append(f"{where} must be {'a table' if kind is dict else 'an array of tables'}"
                            f" ([{key}]{'' if kind is dict else ' written [[' + key + ']]'}), "
                            f"not {type(v).__name__}")
            return kind()
        return v

    unknown(doc, _TOP, "top level")
    m = table("model", "[model]")
    unknown(m, _MODEL, "[model]")
    comps = m.get("compartments")
    if not isinstance(comps, list) or not all(isinstance(c, str) for c in comps or [None]):
        problems.append("[model] compartments must be a list of names, e.g. "
                        "compartments = [\"s1\", \"s2\"]")
        comps = []

    # ---- transfers
    transfers = []
    tr_list = table("transfers", "transfers", list)
    for i, tr in enumerate(tr_list):
        where = f"transfers[{i}]"
        if not isinstance(tr, dict):
            problems.append(f"{where}: expected a table like {{from = \"s1\", to = \"s2\", "
                            "rate = \"k1\"}")
            continue
        unknown(tr, {"from", "to", "rate"}, where)
        for k in ("from", "rate"):
            if k not in tr:
                problems.append(f"{where}: missing {k!r}")
        to = tr.get("to", "ground")
        transfers.append(Transfer(ck.text(tr.get("from", ""), f"{where}.from"),
                                  None if to in ("ground", "", None)
                                  else ck.text(to, f"{where}.to"),
                                  ck.expr(tr.get("rate", "0"), f"{where}.rate")))

    oscillations = _parse_oscillations(doc.get("oscillations", []), problems, unknown)

    # ---- parameters (rates, frequencies and IRF widths used by bare name default to min = 0)
    positive = {t.rate for t in transfers} | {x for o in oscillations
                                               for x in (o.frequency, o.rate)}
    irf_doc = doc.get("irf", {})
    if isinstance(irf_doc, dict) and "width" in irf_doc:
        positive.add(str(irf_doc["width"]))
    params = []
    pdoc = table("parameters", "[parameters]")
    for name, spec in pdoc.items():
        where = f"[parameters.{name}]"
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = {"value": spec}
        if not isinstance(spec, dict):
            hint = (" (a top-level key such as 'transfers' placed after [parameters] belongs to "
                    "that table in TOML: move it above the first [table])"
                    if name in _TOP else "")
            problems.append(f"{where}: expected a number or a table {{value = ..., min = ...}}"
                            + hint)
            continue
        unknown(spec, _PARAM, where)
        n0 = len(problems)
        lo = ck.number(spec.get("min", 0.0 if name in positive else -math.inf), f"{where} min",
                       finite=False)
        hi = ck.number(spec.get("max", math.inf), f"{where} max", finite=False)
        val = ck.number(spec["value"], f"{where} value") if "value" in spec else math.nan
        fixed = ck.boolean(spec.get("fixed", False), f"{where} fixed")
        expr = ck.text(spec["expr"], f"{where} expr") if "expr" in spec else None
        unit = ck.text(spec.get("unit", ""), f"{where} unit")
        if len(problems) > n0:
            continue
        if "expr" in spec and "value" in spec:
            problems.append(f"{where}: give either 'value' or 'expr', not both")
        elif math.isnan(lo) or math.isnan(hi) or not lo < hi:
            problems.append(f"{where}: min = {lo:g} must be below max = {hi:g}")
        elif expr is None and not lo <= val <= hi:
            problems.append(f"{where}: the start value {val:g} lies outside [min, max] = "
                            f"[{lo:g}, {hi:g}]; move it inside or widen the bounds")
        params.append(Parameter(name, val, lo, hi, fixed, expr, unit))

    # ---- IRF
    def make_irf(d, where, base: IRF | None = None):
        b = base or IRF()
        if not isinstance(d, dict):
            problems.append(f"{where}: must be a table")
            return b
        unknown(d, _IRF, where)
        ex = []
        extra = d.get("extra", b.extra)
        if not isinstance(extra, list):
            ck.bad(f"{where}.extra", extra, "an array of {shift = ..., width = ..., scale = ...}")
            extra = []
        for j, e in enumerate(extra):
            if isinstance(e, dict) and {"shift", "width", "scale"} <= set(e):
                ex.append(tuple(ck.expr(e[k], f"{where}.extra[{j}].{k}")
                                for k in ("shift", "width", "scale")))
            elif isinstance(e, tuple):
                ex.append(e)
            else:
                problems.append(f"{where}.extra[{j}]: expected {{shift = ..., width = ..., "
                                "scale = ...}")
        dc = d.get("dispersion_center", b.dispersion_center)
        measured = (_parse_measured_irf(d["measured"], f"{where}.measured", source, problems,
                                        unknown) if "measured" in d else b.measured)
        t0_shift = (_parse_t0_shift(d["t0_shift"], f"{where}.t0_shift", problems, unknown)
                    if "t0_shift" in d else b.t0_shift)

        def terms(key, default):
            v = d.get(key, default)
            if not isinstance(v, list):
                ck.bad(f"{where}.{key}", v, "a list of parameter names")
                return []
            return [ck.expr(x, f"{where}.{key}[{i}]") for i, x in enumerate(v)]

        return IRF(center=ck.text(d.get("center", b.center), f"{where}.center", b.center),
                   width=ck.text(d.get("width", b.width), f"{where}.width", b.width),
                   measured=measured, t0_shift=t0_shift,
                   wavenumber_dispersion=ck.boolean(d.get("wavenumber_dispersion",
                                                          b.wavenumber_dispersion),
                                                    f"{where}.wavenumber_dispersion"),
                   dispersion_center=None if dc is None else ck.number(
                       dc, f"{where}.dispersion_center", None),
                   center_dispersion=terms("center_dispersion", b.center_dispersion),
                   width_dispersion=terms("width_dispersion", b.width_dispersion),
                   extra=ex)

    irf = make_irf(irf_doc, "[irf]")

    def make_weights(lst, where):
        out = []
        if not isinstance(lst, list):
            problems.append(f"{where}: must be an array of tables")
            return out
        for j, w in enumerate(lst):
            wh = f"{where}[{j}]"
            if not isinstance(w, dict) or "value" not in w:
                problems.append(f"{wh}: expected {{wavelength = [lo, hi], delay = [lo, hi], "
                                "value = 0.1}")
                continue
            unknown(w, {"wavelength", "delay", "value"}, wh)
            value = ck.number(w["value"], f"{wh}.value", 1.0)
            if value < 0:
                ck.bad(f"{wh}.value", value, "a weight >= 0")
            out.append(Weight(value,
                              ck.interval(w.get("wavelength", [-math.inf, math.inf]),
                                          f"{wh}.wavelength"),
                              ck.interval(w.get("delay", [-math.inf, math.inf]), f"{wh}.delay")))
        return out

    weights = make_weights(doc.get("weights", []), "weights")
    relations = []
    for j, r in enumerate(table("relations", "relations", list)):
        if not isinstance(r, dict) or not {"species", "to"} <= set(r):
            problems.append(f"relations[{j}]: expected {{species = \"s3\", to = \"s2\", "
                            "factor = 1}")
            continue
        unknown(r, {"species", "to", "factor"}, f"relations[{j}]")
        relations.append(Relation(ck.text(r["species"], f"relations[{j}].species"),
                                  ck.text(r["to"], f"relations[{j}].to"),
                                  ck.expr(r.get("factor", 1), f"relations[{j}].factor", "1")))
    constraints = []
    for j, c in enumerate(table("constraints", "constraints", list)):
        if not isinstance(c, dict) or "species" not in c or "zero" not in c:
            problems.append(f"constraints[{j}]: expected {{species = \"s1\", zero = [lo, hi]}}")
            continue
        unknown(c, {"species", "zero"}, f"constraints[{j}]")
        lo, hi = ck.interval(c["zero"], f"constraints[{j}].zero")
        constraints.append(Constraint(ck.text(c["species"], f"constraints[{j}].species"), lo, hi))
    pre = table("preprocess", "[preprocess]")
    unknown(pre, _PRE, "[preprocess]")
    _check_preprocess(pre, ck)
    datasets = []
    for j, d in enumerate(table("datasets", "datasets", list) if "datasets" in doc else [{}]):
        where = f"datasets[{j}]"
        if not isinstance(d, dict):
            problems.append(f"{where}: must be a table")
            continue
        unknown(d, _DS, where)
        datasets.append(DatasetModel(
            name=ck.text(d.get("name", f"dataset{j + 1}"), f"{where}.name"),
            irf=make_irf(d.get("irf", {}), f"{where}.irf", irf),
            scale=None if d.get("scale") is None else ck.expr(d["scale"], f"{where}.scale"),
            weights=make_weights(d["weights"], f"{where}.weights") if "weights" in d
            else list(weights)))
    guides = _parse_guides(doc.get("guides", []), source, problems)
    equal_area = _parse_equal_area(doc.get("equal_area", []), problems)
    shapes = _parse_shapes(doc.get("shapes", []), problems)
    non_negative = m.get("non_negative", False)
    if not (isinstance(non_negative, bool) or (isinstance(non_negative, list) and all(
            isinstance(x, str) for x in non_negative))):
        problems.append("[model] non_negative must be true/false or a list of species, e.g. "
                        "non_negative = [\"s1\", \"s2\"]")
        non_negative = False
    initial = m.get("initial", {})
    if not isinstance(initial, dict):
        problems.append("[model] initial must be a table, e.g. initial = {s1 = 1}")
        initial = {}
    initial = {k: ck.expr(v, f"[model] initial.{k}") for k, v in initial.items()}
    flags = {k: ck.boolean(m[k], f"[model] {k}") for k in ("normalize_initial", "baseline",
                                                           "link_spectra") if k in m}
    artefact = ck.integer(m.get("coherent_artifact", 0), "[model] coherent_artifact", 0, 3)
    scheme = m.get("scheme")
    if scheme is not None and scheme not in ("parallel", "sequential"):
        ck.bad("[model] scheme", scheme, "\"parallel\" or \"sequential\"")
    if "name" in m:
        ck.text(m["name"], "[model] name")
    artifact_width = (None if m.get("artifact_width") is None
                      else ck.expr(m["artifact_width"], "[model] artifact_width"))
    if problems:
        raise ModelError(f"{source}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    pset = ParameterSet(params, source)
    return TargetModel(
        compartments=list(comps), transfers=transfers,
        initial=initial, parameters=pset, datasets=datasets,
        normalize_initial=flags.get("normalize_initial", False), relations=relations,
        constraints=constraints, coherent_artifact=artefact,
        artifact_width=artifact_width,
        baseline=flags.get("baseline", False), link_spectra=flags.get("link_spectra", True),
        oscillations=oscillations,
        scheme_kind=scheme, non_negative=non_negative, guides=guides, equal_area=equal_area,
        shapes=shapes, preprocess=dict(pre), source=source, toml_text=text)


# ---------------------------------------------------------------------- time-domain features
def _parse_oscillations(lst, problems: list, unknown) -> list[Oscillation]:
    """``[[oscillations]]`` tables: label, frequency, rate (parameters/expressions), unit."""
    out = []
    if not isinstance(lst, list):
        problems.append("oscillations must be an array of tables [[oscillations]]")
        return out
    for j, o in enumerate(lst):
        where = f"oscillations[{j}]"
        if not isinstance(o, dict) or not {"frequency", "rate"} <= set(o):
            problems.append(f"{where}: expected {{label = \"osc1\", frequency = \"nu1\", "
                            "rate = \"gamma1\", unit = \"cm-1\"}")
            continue
        unknown(o, _OSC, where)
        unit = str(o.get("unit", "cm-1"))
        if unit not in OSCILLATION_UNITS:
            problems.append(f"{where}: unit {unit!r}; expected one of {sorted(OSCILLATION_UNITS)}")
        out.append(Oscillation(str(o.get("label", f"osc{j + 1}")), str(o["frequency"]),
                               str(o["rate"]), unit))
    return out


def _parse_measured_irf(d, where: str, source: str, problems: list, unknown):
    """``measured = "irf.csv"`` or ``measured = {file | times + values, spacing}``: a measured
    IRF trace (two columns: time in ps, value; a file path is relative to the model file)."""
    import numpy as np

    if isinstance(d, str):
        d = {"file": d}
    if not isinstance(d, dict):
        problems.append(f"{where}: expected a file name or {{times = [...], values = [...]}}")
        return None
    unknown(d, _MEASURED, where)
    try:
        if "file" in d:
            path = Path(d["file"])
            if not path.is_absolute() and Path(source).is_file():
                path = Path(source).resolve().parent / path
            text = read_model_text(path)  # a regular file of at most 1 MiB
            rows = [ln.replace(",", " ").split() for ln in text.splitlines()]
            rows = [r for r in rows if r and not r[0].startswith("#")]
            arr = np.array([[float(x) for x in r[:2]] for r in rows if _numeric(r[0])])
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError("expected two columns: time (ps), value")
            times, values = arr[:, 0], arr[:, 1]
        elif {"times", "values"} <= set(d):
            times, values = (np.asarray(d[k], float) for k in ("times", "values"))
        else:
            problems.append(f"{where}: give file = \"irf.csv\" or times = [...] and values = "
                            "[...]")
            return None
        spacing = None if d.get("spacing") is None else float(d["spacing"])
    except (FileNotFoundError, ModelError):
        problems.append(f"{where}: file {str(d.get('file'))!r} not found or not a readable "
                        "text file (paths are relative to the model file)")
        return None
    except (OSError, ValueError, TypeError) as exc:
        problems.append(f"{where}: cannot read the measured IRF ({exc}); give two numeric "
                        "columns: time (ps), value")
        return None
    return MeasuredIRF(tuple(float(x) for x in times), tuple(float(x) for x in values),
                       spacing, str(d.get("file", "inline")))


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_t0_shift(d, where: str, problems: list, unknown):
    """``t0_shift = {value, min, max, reference}``: a free time-zero shift per wavelength."""
    if d is True:
        d = {}
    if not isinstance(d, dict):
        problems.append(f"{where}: expected {{value = 0, min = -0.5, max = 0.5, reference = "
                        "550}")
        return None
    unknown(d, _T0_SHIFT, where)
    ref = d.get("reference")
    if isinstance(ref, str) and ref.lower() != "none":
        problems.append(f"{where}: reference {ref!r}; give a wavelength (nm) or \"none\"")
        return None
    try:
        return TimeZeroShift(float(d.get("value", 0.0)), float(d.get("min", -math.inf)),
                             float(d.get("max", math.inf)),
                             ref if ref is None or isinstance(ref, str) else float(ref))
    except (TypeError, ValueError):
        problems.append(f"{where}: value/min/max/reference must be numbers")
        return None


# ---------------------------------------------------------------------- spectral features
def _unknown(d: dict, allowed, where, problems):
    for k in d:
        if k not in allowed:
            problems.append(f"{where}: unknown key {k!r}{did_you_mean(k, allowed)} "
                            f"(allowed: {', '.join(sorted(allowed))})")


def _table_list(lst, name, example, problems):
    """(index, table) of an array of tables ``name``; problems for anything else."""
    if not isinstance(lst, list):
        problems.append(f"{name} must be an array of tables ([[{name}]])")
        return []
    out = []
    for j, x in enumerate(lst):
        if isinstance(x, dict):
            out.append((j, x))
        else:
            problems.append(f"{name}[{j}]: expected a table like {example}")
    return out


def _parse_guides(lst, source, problems) -> list[Guide]:
    """``[[guides]]``: species, a two-column file (wavelength nm, value; relative to the model
    file) or inline ``wavelength``/``values`` lists, and a ``weight``."""
    import numpy as np

    out = []
    for j, g in _table_list(lst, "guides", '{species = "s2", file = "guide.csv", weight = 1}',
                            problems):
        where = f"guides[{j}]"
        _unknown(g, _GUIDE, where, problems)
        if "species" not in g:
            problems.append(f"{where}: missing 'species'")
            continue
        try:
            if "file" in g:
                path = Path(str(g["file"]))
                if not path.is_absolute():
                    path = Path(source).parent / path
                try:  # a regular text file of at most 1 MiB (the bounded reader)
                    rows = [ln.replace(",", " ").split()
                            for ln in read_model_text(path).splitlines()]
                    arr = np.array([[float(x) for x in r[:2]] for r in rows
                                    if r and _numeric(r[0])], float).reshape(-1, 2)
                except (ModelError, OSError, ValueError, IndexError) as exc:
                    problems.append(f"{where}: cannot read guide file {str(path)!r} ({exc}); "
                                    "expected two columns: wavelength (nm), value")
                    continue
                wl, val = arr[:, 0], arr[:, 1]
            else:
                wl = [float(x) for x in g.get("wavelength", [])]
                val = [float(x) for x in g.get("values", [])]
            weight = float(g.get("weight", 1.0))
        except (TypeError, ValueError):
            problems.append(f"{where}: wavelength, values and weight must be numbers")
            continue
        out.append(Guide(str(g["species"]), tuple(float(x) for x in wl),
                         tuple(float(x) for x in val), weight))
    return out


def _intervals(x, where, problems):
    try:
        iv = [(float(a), float(b)) for a, b in x]
    except (TypeError, ValueError):
        problems.append(f"{where}: expected a list of [lo, hi] pairs in nm, e.g. [[450, 600]]")
        return []
    return iv


def _parse_equal_area(lst, problems) -> list[EqualArea]:
    """``[[equal_area]]``: pyglotaran's equal-area clp penalty."""
    out = []
    for j, e in _table_list(lst, "equal_area", '{source = "s1", target = "s2", '
                            'source_intervals = [[400, 700]], target_intervals = [[400, 700]]}',
                            problems):
        where = f"equal_area[{j}]"
        _unknown(e, _AREA, where, problems)
        miss = [k for k in ("source", "target", "source_intervals", "target_intervals")
                if k not in e]
        if miss:
            problems.append(f"{where}: missing {miss}")
            continue
        try:
            weight = float(e.get("weight", 1.0))
        except (TypeError, ValueError):
            problems.append(f"{where}: weight must be a number")
            continue
        out.append(EqualArea(str(e["source"]), str(e["target"]),
                             _intervals(e["source_intervals"], where, problems),
                             _intervals(e["target_intervals"], where, problems),
                             str(e.get("parameter", 1)), weight))
    return out


def _parse_shapes(lst, problems) -> list[SpectralShape]:
    """``[[shapes]]``: parametric spectra (gaussian, skewed-gaussian)."""
    out = []
    for j, sh in _table_list(lst, "shapes", '{species = "s1", type = "gaussian", amplitude = '
                             '"a1", location = "l1", width = "w1"}', problems):
        where = f"shapes[{j}]"
        _unknown(sh, _SHAPE, where, problems)
        miss = [k for k in ("species", "type", "amplitude", "location", "width") if k not in sh]
        if miss:
            problems.append(f"{where}: missing {miss}")
            continue
        out.append(SpectralShape(str(sh["species"]), str(sh["type"]), str(sh["amplitude"]),
                                 str(sh["location"]), str(sh["width"]),
                                 None if sh.get("skewness") is None else str(sh["skewness"])))
    return out
