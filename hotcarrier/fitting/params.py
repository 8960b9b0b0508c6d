"""Model parameters: values, bounds, expressions, and the map to unconstrained coordinates.

A :class:`ParameterSet` maps an unconstrained vector θ (what the optimisers see) to the
physical values of every parameter (free, fixed and expressions). The one bounded-parameter
transform of the package is :func:`to_physical` / :func:`to_unconstrained`:

* ``(a, b)``: logistic map, a + (b − a)·sigmoid(θ); with ``log=True`` the logistic map runs
  in log space (for positive quantities spanning decades: rates, densities, lifetimes);
* ``(a, ∞)``: a + exp(θ);  ``(−∞, b)``: b − exp(θ);  unbounded: identity.

Expressions are small arithmetic over parameter names (``+ - * / **``, ``exp``, ``log``,
``sqrt``, ``abs``, numbers), e.g. ``k1 = "b * ksum"``. Arrays in, arrays out (pure JAX).
"""

from __future__ import annotations

import ast
import math
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ModelError

__all__ = ["Parameter", "ParameterSet", "Expression", "to_physical", "to_unconstrained",
           "near_bound", "BOUND_RTOL", "MAX_EXPRESSION_LENGTH", "describe_parameter"]

BOUND_RTOL = 0.01
"""A free parameter within this fraction of its bounded range (or of its value, for a
one-sided bound) of a bound is reported "at bound" (:func:`near_bound`)."""


def to_physical(raw, lo, hi, log: bool = False):
    """Physical value from the unconstrained coordinate ``raw`` (pure JAX, differentiable).

    ``lo``, ``hi`` may be ±inf (one-sided or no bound) or traced arrays (then both are taken
    as finite, so bounds can change without recompiling); ``log`` (positive bounds) runs the
    logistic map between log(lo) and log(hi).
    """
    lo_f, hi_f = _is_finite(lo), _is_finite(hi)
    if lo_f and hi_f:
        if log:
            return jnp.exp(jnp.log(lo) + (jnp.log(hi) - jnp.log(lo)) * jax.nn.sigmoid(raw))
        return lo + (hi - lo) * jax.nn.sigmoid(raw)
    if lo_f:
        return lo + jnp.exp(raw)
    if hi_f:
        return hi - jnp.exp(raw)
    return raw


def _is_finite(bound) -> bool:
    if isinstance(bound, jax.core.Tracer):
        return True
    return bool(np.all(np.isfinite(np.asarray(bound))))


def to_unconstrained(value: float, lo: float, hi: float, log: bool = False) -> float:
    """Inverse of :func:`to_physical` (host side, floats); a value on a bound is moved
    1e-9 of the range inside it."""
    if np.isfinite(lo) and np.isfinite(hi):
        if log:
            value, lo, hi = math.log(value), math.log(lo), math.log(hi)
        u = (value - lo) / (hi - lo)
        u = min(max(u, 1e-9), 1.0 - 1e-9)
        return float(math.log(u / (1.0 - u)))
    if np.isfinite(lo):
        return float(math.log(value - lo))
    if np.isfinite(hi):
        return float(math.log(hi - value))
    return float(value)


def near_bound(value: float, lo: float, hi: float, rtol: float = BOUND_RTOL) -> bool:
    """True when ``value`` lies within ``rtol`` of a finite bound: of the range ``hi − lo``
    when both are finite, else of max(|bound|, |value|)."""
    span = hi - lo
    for b in (lo, hi):
        if np.isfinite(b):
            ref = span if np.isfinite(span) else max(abs(b), abs(value), 1e-300)
            if abs(value - b) <= rtol * ref:
                return True
    return False


_FUNCS = {"exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt, "abs": jnp.abs}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}


@dataclass
class Parameter:
    """One model parameter.

    Attributes
    ----------
    name : str
    value : float
        Starting (or fixed) value; ignored for expressions.
    min, max : float
        Bounds (open interval; ±inf for none).
    fixed : bool
    expr : str or None
        Expression of other parameters (then neither free nor fixed).
    unit : str
    log : bool
        With finite positive bounds: the logistic map runs in log space (decades).
    """

    name: str
    value: float = float("nan")
    min: float = -math.inf
    max: float = math.inf
    fixed: bool = False
    expr: str | None = None
    unit: str = ""
    log: bool = False

    @property
    def free(self) -> bool:
        """True when the optimiser varies this parameter."""
        return not self.fixed and self.expr is None


MAX_EXPRESSION_LENGTH = 1000
"""Longest parameter expression accepted (characters)."""


class Expression:
    """A parsed arithmetic expression over parameter names."""

    def __init__(self, text: str, where: str):
        self.text = text
        if not isinstance(text, str) or len(text) > MAX_EXPRESSION_LENGTH:
            shown = (text if not isinstance(text, str)
                     else f"{text[:40]}... ({len(text)} characters)")
            raise ModelError(f"{where}: expression {shown!r} is not a text of at most "
                             f"{MAX_EXPRESSION_LENGTH} characters; write a shorter expression "
                             "(or define intermediate parameters)")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise ModelError(f"{where}: cannot parse expression {text!r} ({exc.msg})") from None
        except (RecursionError, MemoryError):
            raise ModelError(f"{where}: expression {text[:40]!r}... is nested too deeply; "
                             "write it with fewer parentheses") from None
        self.names: set[str] = set()
        self._check(tree.body, where)
        self.tree = tree.body

    def _check(self, node, where):
        ok = (ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant, ast.Add, ast.Sub,
              ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Load)
        for sub in ast.walk(node):
            if not isinstance(sub, ok):
                raise ModelError(f"{where}: expression {self.text!r} uses unsupported syntax "
                                 f"({type(sub).__name__}); allowed: + - * / ** numbers, names, "
                                 f"{', '.join(_FUNCS)}")
            if isinstance(sub, ast.Call):
                if not isinstance(sub.func, ast.Name) or sub.func.id not in _FUNCS:
                    raise ModelError(f"{where}: expression {self.text!r} calls an unknown "
                                     f"function; allowed: {', '.join(_FUNCS)}")
            elif isinstance(sub, ast.Name) and sub.id not in _FUNCS:
                self.names.add(sub.id)
            elif isinstance(sub, ast.Constant) and not isinstance(sub.value, (int, float)):
                raise ModelError(f"{where}: expression {self.text!r} has a non-numeric constant")

    def evaluate(self, env):
        def ev(n):
            if isinstance(n, ast.Constant):
                return float(n.value)
            if isinstance(n, ast.Name):
                return env[n.id]
            if isinstance(n, ast.UnaryOp):
                v = ev(n.operand)
                return -v if isinstance(n.op, ast.USub) else v
            if isinstance(n, ast.BinOp):
                return _BINARY[type(n.op)](ev(n.left), ev(n.right))
            if isinstance(n, ast.Call):
                return _FUNCS[n.func.id](*[ev(x) for x in n.args])
            raise AssertionError(n)  # pragma: no cover

        return ev(self.tree)


def describe_parameter(p: Parameter) -> str:
    """``name = value unit`` with ``(fixed)``, ``= expr`` or the bounds: one readable line."""
    if p.expr is not None:
        return f"{p.name} = {p.expr}"
    u = f" {p.unit}" if p.unit else ""
    if p.fixed:
        return f"{p.name} = {p.value:g}{u} (fixed)"
    lo, hi = ("" if not math.isfinite(p.min) else f"{p.min:g}",
              "" if not math.isfinite(p.max) else f"{p.max:g}")
    return f"{p.name} = {p.value:g}{u}" + (f" [{lo or '-∞'}, {hi or '∞'}]" if lo or hi else "")


class ParameterSet:
    """An ordered set of parameters with the map θ (unconstrained, free) → physical values.

    Parameters
    ----------
    params : sequence of Parameter
    source : str
        Where they come from (named in error messages).

    Raises
    ------
    ModelError
        Listing every problem (unknown names in expressions, circular expressions, values
        outside bounds, ...).
    """

    def __repr__(self) -> str:
        return f"ParameterSet({', '.join(describe_parameter(p) for p in self.params)})"

    def __init__(self, params: Sequence[Parameter], source: str = "model"):
        self.params = list(params)
        self.source = source
        self.index = {p.name: i for i, p in enumerate(self.params)}
        problems = [f"parameter {name!r} is defined twice"
                    for name, k in Counter(p.name for p in self.params).items() if k > 1]
        self.exprs = {}
        for p in self.params:
            if p.expr is not None:
                try:
                    e = Expression(p.expr, f"parameter {p.name!r}")
                except ModelError as exc:
                    problems.append(str(exc))
                    continue
                unknown = sorted(e.names - set(self.index))
                if unknown:
                    problems.append(f"parameter {p.name!r}: expression {p.expr!r} refers to "
                                    f"undefined parameter(s) {unknown}")
                self.exprs[p.name] = e
            else:
                if not np.isfinite(p.value):
                    problems.append(f"parameter {p.name!r} has no finite value")
                elif p.free and not (p.min < p.value < p.max):
                    problems.append(f"parameter {p.name!r} = {p.value:g} is outside its open "
                                    f"bounds ({p.min:g}, {p.max:g}); move the start value inside")
                if p.min >= p.max:
                    problems.append(f"parameter {p.name!r} has min {p.min:g} >= max {p.max:g}")
        self.order = []
        if not problems:
            try:
                self.order = self._expr_order()
            except ModelError as exc:
                problems.append(str(exc))
        if problems:
            raise ModelError(f"{source}: {len(problems)} problem(s) with parameters:\n  - "
                             + "\n  - ".join(problems))
        self.free_names = [p.name for p in self.params if p.free]

    def _expr_order(self):
        done = {p.name for p in self.params if p.expr is None}
        order, pending = [], dict(self.exprs)
        while pending:
            ready = [n for n, e in pending.items() if e.names <= done]
            if not ready:
                raise ModelError(f"circular parameter expressions among {sorted(pending)}")
            for n in ready:
                order.append(n)
                done.add(n)
                del pending[n]
        return order

    @property
    def names(self) -> list[str]:
        """All parameter names, in definition order."""
        return [p.name for p in self.params]

    def __getitem__(self, name) -> Parameter:
        """The parameter called ``name``."""
        return self.params[self.index[name]]

    def theta0(self, values: dict | None = None) -> np.ndarray:
        """Unconstrained start vector of the free parameters (from their values)."""
        values = values or {}
        return np.array([to_unconstrained(values.get(p.name, p.value), p.min, p.max, p.log)
                         for p in self.params if p.free], dtype=float)

    def physical(self, theta):
        """All parameter values (Array, definition order) from the free vector θ (pure JAX)."""
        env = {}
        for p in self.params:
            if p.expr is None and not p.free:
                env[p.name] = jnp.asarray(p.value, dtype=jnp.asarray(theta).dtype)
        for i, n in enumerate(self.free_names):
            p = self[n]
            env[n] = to_physical(theta[i], p.min, p.max, p.log)
        for n in self.order:
            env[n] = jnp.asarray(self.exprs[n].evaluate(env))
        return jnp.stack([env[p.name] for p in self.params])
