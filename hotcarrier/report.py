"""A self-contained HTML report of a fit (``report.html``): figures, the parameter table with
verdicts, warnings, the residual-SVD verdict, the preprocessing history and the provenance.

One file, no scripts and no external resources: the figures are embedded as PNG data URIs,
so the report opens in any browser, offline, and can be mailed or archived as it is.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from pathlib import Path

__all__ = ["report_html", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;border-bottom:1px solid #ccc;
margin-top:1.6em} table{border-collapse:collapse;margin:.5em 0} td,th{padding:.25em .8em;
border-bottom:1px solid #e4e4e4;text-align:left} th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums} .ok{color:#1a7f37}
.bad{color:#b42318;font-weight:600} .warn{color:#9a6700} img{max-width:100%;
border:1px solid #ddd} pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
.muted{color:#666;font-size:.9em}
"""


def _e(x) -> str:
    return html.escape(str(x))


def _verdict(name: str, p: dict, s: dict) -> tuple[str, str]:
    if p.get("expr"):
        return "expression", "muted"
    if p.get("fixed"):
        return "fixed", "muted"
    if name in (s.get("at_bound") or []):
        return "at a bound (no error)", "bad"
    if p.get("identifiable") is False or p.get("stderr") is None:
        return "not identifiable", "bad"
    return "determined", "ok"


def _value(p: dict) -> tuple[str, str]:
    from .units import natural_time, pdg_round

    unit, scale = p.get("unit", ""), 1.0
    if unit == "ps":
        scale, unit = natural_time(p["value"])
    err = None if p.get("stderr") is None else p["stderr"] / scale
    v, e = pdg_round(p["value"] / scale, err)
    return (f"{v} ± {e}" if e not in ("n/a", "0") and not p.get("fixed") else v), unit


def _img(data: bytes, alt: str) -> str:
    return (f'<img alt="{_e(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(data).decode("ascii")}">')


def report_html(result, figures: dict | None = None) -> str:
    """The report of ``result`` (:class:`~hotcarrier.fitting.result.FitResult`) as one HTML
    string; ``figures``: title → PNG bytes or path, embedded in that order."""
    from . import __version__
    from .units import format_time

    s = result.summary()
    model = s.get("model", {})
    ok = s["converged"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>hotcarrier fit: {_e(model.get('name', ''))}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>Fit report: {_e(model.get('name', ''))}</h1>",
           f'<p class="muted">data: {_e(", ".join(s.get("datasets", [])))}<br>'
           f"model: {_e(model.get('file') or model.get('name', ''))} "
           f"({_e(model.get('scheme', model.get('type', '')))})<br>"
           f"hotcarrier {_e(s.get('hotcarrier_version', __version__))}, report written "
           f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC</p>",
           f'<p class="{"ok" if ok else "bad"}">{"Converged" if ok else "NOT converged"}: '
           f"{_e(s.get('message', ''))} after {s['n_iterations']} iterations "
           f"({s['wall_time_s']:.1f} s).</p>"]
    rmse = s.get("rmse")
    chi2 = s.get("chi2_reduced")
    out.append("<table><tr><th>cost ½Σ(w·r)²</th><th>RMSE</th><th>χ²_red</th><th>data points"
               "</th><th>free parameters</th><th>amplitudes</th></tr>"
               f'<tr><td class="num">{s["cost"]:.6g}</td>'
               f'<td class="num">{"n/a" if rmse is None else f"{rmse:.4g}"}</td>'
               f'<td class="num">{"n/a" if chi2 is None else f"{chi2:.4g}"}</td>'
               f'<td class="num">{s["n_data"]}</td><td class="num">{s["n_free"]}</td>'
               f'<td class="num">{s["n_amplitudes"]}</td></tr></table>')
    warn = list(s.get("lifetime_warnings") or [])
    if s.get("non_identifiable"):
        warn.append("not identifiable: " + ", ".join(s["non_identifiable"]))
    if s.get("at_bound"):
        warn.append("within 1 % of a bound: " + ", ".join(s["at_bound"]))
    if warn:
        out.append("<h2>Warnings</h2><ul>" + "".join(f'<li class="warn">{_e(w)}</li>'
                                                     for w in warn) + "</ul>")
    out.append("<h2>Parameters</h2><table><tr><th>name</th><th>value ± 1σ</th><th>unit</th>"
               "<th>bounds</th><th>verdict</th></tr>")
    for name, p in s["parameters"].items():
        v, unit = _value(p)
        verdict, cls = _verdict(name, p, s)
        lo, hi = p.get("min"), p.get("max")
        bounds = "" if p.get("fixed") or p.get("expr") else \
            f"({'-∞' if lo is None else f'{lo:g}'}, {'∞' if hi is None else f'{hi:g}'})"
        if p.get("expr"):
            v = f"{v} = {p['expr']}"
        out.append(f'<tr><td>{_e(name)}</td><td class="num">{_e(v)}</td><td>{_e(unit)}</td>'
                   f'<td>{_e(bounds)}</td><td class="{cls}">{_e(verdict)}</td></tr>')
    out.append("</table>")
    if s.get("lifetimes_ps"):
        errs = s.get("lifetimes_stderr_ps") or [None] * len(s["lifetimes_ps"])
        out.append("<p>Lifetimes: " + _e(", ".join(format_time(t, e) for t, e in
                                                     zip(s["lifetimes_ps"], errs))) + "</p>")
    for name, d in (s.get("derived") or {}).items():
        if isinstance(d, dict) and "value" in d:
            out.append(f"<p>{_e(name)} = {d['value']:.6g}"
                       + (f" ± {d['stderr']:.2g}" if d.get("stderr") else "") + "</p>")
    rs = s.get("residual_svd")
    if rs:
        ratios = ", ".join(f"{x:g}" for x in rs.get("ratio_to_noise_edge", []))
        out.append("<h2>Residual SVD</h2>"
                   f"<p>{_e(rs.get('verdict', ''))}</p><p class='muted'>noise σ̂ = "
                   f"{rs.get('noise_sigma', float('nan')):.3g}; first singular values over the "
                   f"noise edge: {_e(ratios)}</p>")
    for title, fig in (figures or {}).items():
        data = Path(fig).read_bytes() if isinstance(fig, (str, Path)) else bytes(fig)
        out.append(f"<h2>{_e(title)}</h2>{_img(data, title)}")
    for d, rec in enumerate(s.get("preprocessing") or []):
        which = f" of dataset {d + 1}" if len(s["preprocessing"]) > 1 else ""
        steps = "".join(f"<li>{_e(h)}</li>" for h in rec.get("history", []))
        out.append(f"<h2>Preprocessing{which}</h2><ol>{steps}</ol>")
        if rec.get("chirp_coefficients"):
            c = ", ".join(f"{x:.10g}" for x in rec["chirp_coefficients"])
            rms = rec.get("chirp_rms_ps")
            out.append(f"<p>Chirp ({_e(rec.get('chirp_source'))}): t0(λ) = polyval([{_e(c)}], "
                       "λ/nm) ps" + (f"; rms of {rec.get('chirp_onsets_used')} half-maximum "
                                    f"onsets about it {rms:.3g} ps" if rms is not None else "")
                       + "</p>")
        out.append(f"<p class='muted'>options: {_e(rec.get('options', {}))}</p>")
    out.append("<h2>Provenance</h2><table>"
               f"<tr><td>optimiser</td><td>{_e(s.get('optimizer', ''))}</td></tr>"
               f"<tr><td>criterion</td><td>{_e(s.get('criterion', ''))}</td></tr>"
               f"<tr><td>status</td><td>{s['status']}: {_e(s.get('message', ''))}</td></tr>"
               f"<tr><td>condition number</td><td>{_e(s.get('condition_number'))}</td></tr>"
               "</table>")
    cfg = result.dataset.attrs.get("config", "")
    if cfg:
        out.append(f"<p>Model file:</p><pre>{_e(cfg)}</pre>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(result, path, figures: dict | None = None) -> Path:
    """Write :func:`report_html` to ``path`` atomically (UTF-8)."""
    from .io.atomic import atomic_path

    path = Path(path)
    text = report_html(result, figures)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path
