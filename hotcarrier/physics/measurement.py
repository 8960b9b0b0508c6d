"""A measurement as a lab has it: plain trace files plus a small sidecar TOML.

``hotcarrier fit measurement.toml --model model.toml --out DIR`` fits a sample fluence series
and a reference without Python. The sidecar lists the trace files with what the physical fit
needs to know about each (role, pump fluence, wavelength, absorbance, path)::

    [defaults]                      # apply to every [[dataset]] unless it overrides them
    probe = "midir"
    probe_wavelength_nm = 4800.0
    signal_units = "mOD"            # OD | mOD | uOD
    pump_wavelength_nm = 590.0
    path_cm = 0.005                 # optical path of the film/cell (cm)

    [[dataset]]
    file = "sample_1uJ.csv"         # relative to the sidecar; columns: delay (ps), ΔA[, σ]
    role = "sample"
    fluence_uJ_cm2 = 1.0
    absorbance = 0.30               # decadic pump absorbance of the sample (OD)

    [[dataset]]
    file = "reference.csv"
    role = "reference"              # band-gap-excited CdS (one electron per photon)
    pump_wavelength_nm = 400.0
    fluence_uJ_cm2 = 2.0
    absorbance = 0.25
    # absorbed_photon_density_cm3 = 1.2e17   # instead of fluence/absorbance/path

Each dataset's absorbed photon density is ρ_abs = (F/ħω)(1 − 10^−A)/ℓ
(:func:`hotcarrier.physics.excitation.absorbed_photon_density`, spec §7.1). A trace file is
two (or three, with a noise σ that becomes the weight 1/σ) numeric columns separated by commas,
tabs, semicolons or spaces; lines that are not numbers (headers, comments) are skipped; a
TA map in any format the package reads may be given instead.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np

from ..dataset import make_ta_dataset
from ..errors import DataFormatError, ModelError
from .excitation import absorbed_photon_density

__all__ = ["is_measurement_file", "read_measurement", "read_trace"]

ROLES = ("sample", "reference")
KEYS = {"file", "role", "probe", "probe_wavelength_nm", "signal_units", "pump_wavelength_nm",
        "path_cm", "fluence_uJ_cm2", "absorbance", "absorbed_photon_density_cm3", "name"}
_SPLIT = re.compile(r"[,;\t ]+")


def is_measurement_file(path) -> bool:
    """True when ``path`` is a TOML file with ``[[dataset]]`` entries (a sidecar)."""
    p = Path(path)
    if p.suffix.lower() != ".toml":
        return False
    try:
        cfg = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return isinstance(cfg.get("dataset"), list)


def read_trace(path, *, probe_wavelength_nm: float = 0.0, signal_units: str = "mOD",
               attrs: dict | None = None):
    """A two- or three-column trace file (delay ps, ΔA[, σ]) as a one-wavelength TA dataset."""
    path = Path(path)
    rows = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataFormatError(path, f"cannot read the trace file ({exc.strerror or exc})",
                              "check the file name (in a measurement file: relative to "
                              "that file's folder)") from None
    except UnicodeDecodeError:
        raise DataFormatError(path, "not a text file",
                              "give a text file with delay (ps), ΔA[, σ] per line") from None
    for number, line in enumerate(text.splitlines(), 1):
        parts = [p for p in _SPLIT.split(line.strip()) if p]
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            if rows and not line.lstrip().startswith(("#", "%", "//")):
                raise DataFormatError(path, f"line {number} is not numeric ({line.strip()[:40]!r})"
                                      " after the data started",
                                      "fix or remove the line (comments start with #)") from None
            continue  # a header or comment before the data
        if vals:
            rows.append(vals)
    widths = {len(r) for r in rows}
    if not rows or widths - {2, 3} or len(widths) != 1:
        raise DataFormatError(path, "a trace file needs 2 or 3 numeric columns (delay in ps, "
                              f"ΔA[, σ]) on every data line; found column counts "
                              f"{sorted(widths) or 'none'}")
    a = np.asarray(rows, float)
    a = a[np.argsort(a[:, 0], kind="stable")]
    weight = None
    if a.shape[1] == 3:
        if not np.all(a[:, 2] > 0):
            raise DataFormatError(path, "the third column (σ of ΔA) must be > 0 everywhere",
                                  "give 1σ errors of ΔA, or two columns")
        weight = (1.0 / a[:, 2])[:, None]
    return make_ta_dataset(a[:, 0], [probe_wavelength_nm], a[:, 1:2], signal_units=signal_units,
                           weight=weight, attrs=dict(attrs or {}, source_file=str(path)))


def _number(entry, key, where, problems, positive=True):
    v = entry.get(key)
    if v is None:
        return None
    if not isinstance(v, (int, float)) or isinstance(v, bool) or (positive and not v > 0):
        problems.append(f"{where}: {key} = {v!r} must be a number{' > 0' if positive else ''}")
        return None
    return float(v)


def read_measurement(path) -> dict:
    """Name → TA dataset of every ``[[dataset]]`` of a sidecar, with the attributes the
    physical fit reads (``hotcarrier_role``, ``probe``, ``absorbed_photon_density_cm3``,
    ``pump_absorbance``, ``pump_fluence_uJ_cm2``, ``pump_wavelength_nm``). Every problem is
    listed in one :class:`ModelError`."""
    from ..io import load_ta

    path = Path(path)
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the measurement file ({exc})") from None
    defaults = cfg.get("defaults", {})
    problems, out = [], {}
    for i, raw in enumerate(cfg.get("dataset", [])):
        entry = {**defaults, **raw}
        where = f"{path.name} [[dataset]] #{i + 1} ({entry.get('file', '?')})"
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {unknown}; known: {sorted(KEYS)}")
        if entry.get("role") not in ROLES:
            problems.append(f"{where}: role = {entry.get('role')!r}; give one of {ROLES}")
        if "file" not in entry:
            problems.append(f"{where}: file = \"...\" is missing")
            continue
        rho = _number(entry, "absorbed_photon_density_cm3", where, problems)
        F = _number(entry, "fluence_uJ_cm2", where, problems)
        A = _number(entry, "absorbance", where, problems)
        ell = _number(entry, "path_cm", where, problems)
        lam = _number(entry, "pump_wavelength_nm", where, problems)
        if rho is None:
            missing = [k for k, v in (("fluence_uJ_cm2", F), ("absorbance", A), ("path_cm", ell),
                                      ("pump_wavelength_nm", lam)) if v is None]
            if missing:
                problems.append(f"{where}: give absorbed_photon_density_cm3, or {missing} to "
                                "compute it (ρ_abs = (F/ħω)(1 − 10^−A)/ℓ)")
                continue
            rho = float(absorbed_photon_density(F, lam, A, ell))
        attrs = {"hotcarrier_role": entry.get("role"), "probe": entry.get("probe", "midir"),
                 "absorbed_photon_density_cm3": rho}
        for key, v in (("pump_absorbance", A), ("pump_fluence_uJ_cm2", F),
                       ("pump_wavelength_nm", lam), ("path_length_cm", ell)):
            if v is not None:
                attrs[key] = v
        file = (path.parent / entry["file"]).resolve()
        try:
            if file.suffix.lower() in (".csv", ".txt", ".dat", ".tsv"):
                try:
                    ds = read_trace(file, probe_wavelength_nm=float(
                        entry.get("probe_wavelength_nm", 0.0)),
                        signal_units=str(entry.get("signal_units", "mOD")), attrs=attrs)
                except DataFormatError:
                    ds = load_ta(file)  # a map in a delimited format
                    ds.attrs.update(attrs)
            else:
                ds = load_ta(file)
                ds.attrs.update(attrs)
        except (DataFormatError, OSError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        out[str(entry.get("name", file.stem))] = ds
    if not cfg.get("dataset"):
        problems.append("no [[dataset]] entries")
    if problems:
        raise ModelError(f"measurement file {path} has {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
    return out
