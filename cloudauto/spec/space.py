"""The search space: one exact internal form for both input forms.

Users write a parameter as a bare scalar (fixed), as a mapping (`{uniform: [0.001, 0.1]}`,
bounds are the values themselves, as in Optuna and Ray Tune) or as an Azure ML
expression string (`"loguniform(-9, -2)"`, where log distributions take natural-log
exponents, as Azure defines them). Both forms land in the same models below, so no
backend ever sees the input form; each backend asks for the convention it needs
(`LogUniform.low/high` values, or `log_low/log_high` exponents).
"""

from __future__ import annotations

import ast
import decimal
import difflib
import itertools
import math
import re
import sys
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

Scalar = Union[bool, int, float, str]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @property
    def is_discrete(self) -> bool:
        return False

    def grid_values(self) -> list[Scalar]:
        raise ValueError(f"{self.kind} is not a discrete distribution")

    def grid_count(self) -> int:
        """How many values grid_values() gives, computed without listing them (a grid's size is known first)."""
        return len(self.grid_values())


class Fixed(_Dist):
    kind: Literal["fixed"] = "fixed"
    value: Scalar

    @property
    def is_discrete(self) -> bool:
        return True

    def grid_values(self) -> list[Scalar]:
        return [self.value]


class Choice(_Dist):
    kind: Literal["choice"] = "choice"
    values: tuple[Scalar, ...]

    @property
    def is_discrete(self) -> bool:
        return True

    def grid_values(self) -> list[Scalar]:
        return list(self.values)


class Uniform(_Dist):
    kind: Literal["uniform"] = "uniform"
    low: float
    high: float


class LogUniform(_Dist):
    """Values run from `low` to `high`; the exponents are kept exactly as given too."""

    kind: Literal["loguniform"] = "loguniform"
    low: float
    high: float
    log_low: float
    log_high: float


def q_steps(low: float, high: float, q: float) -> Optional[tuple[int, int]]:
    """The first and last k with k * q in [low, high]; None where low/q or high/q is beyond a float.

    The tolerance is relative, so float error (0.3 / 0.1 = 2.9999999999999996) counts k in,
    while a low far below q (1 / 1e300) does not let k = 0 (a value below low) in.
    """
    a, b = low / q, high / q
    if not (math.isfinite(a) and math.isfinite(b)):
        return None
    return math.ceil(a - 1e-9 * abs(a)), math.floor(b + 1e-9 * abs(b))


def q_multiple(k: int, q: float, low: float, high: float) -> Scalar:
    """k * q as the user reads it: an int where q and the bounds are integral, else the decimal product of k and
    q as written (3 * 0.1 is 0.3), which keeps tiny values (1e-300) that rounding to decimals would make 0."""
    if all(float(v).is_integer() for v in (q, low, high)):
        return int(k * q)
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        return float(decimal.Decimal(k) * decimal.Decimal(repr(float(q))))


class QUniform(_Dist):
    """round(uniform(low, high) / q) * q, as Azure ML and Hyperopt define it."""

    kind: Literal["quniform"] = "quniform"
    low: float
    high: float
    q: float

    @property
    def is_discrete(self) -> bool:
        return True

    def _steps(self) -> Optional[tuple[int, int]]:
        return q_steps(self.low, self.high, self.q)

    def grid_count(self) -> int:
        steps = self._steps()
        return _UNCOUNTABLE if steps is None else max(0, steps[1] - steps[0] + 1)

    def grid_values(self) -> list[Scalar]:
        if self.grid_count() > MAX_CHOICES:
            raise ValueError(f"quniform gives {self.grid_count():,} values; a grid takes at most {MAX_CHOICES:,}")
        start, stop = self._steps()  # type: ignore[misc]
        return [q_multiple(k, self.q, self.low, self.high) for k in range(start, stop + 1)]


class QLogUniform(_Dist):
    kind: Literal["qloguniform"] = "qloguniform"
    low: float
    high: float
    log_low: float
    log_high: float
    q: float


class RandInt(_Dist):
    """Integers in [low, high): low counts in, high counts out (numpy and Azure ML)."""

    kind: Literal["randint"] = "randint"
    low: int
    high: int

    @property
    def is_discrete(self) -> bool:
        return True

    def grid_count(self) -> int:
        return self.high - self.low

    def grid_values(self) -> list[Scalar]:
        if self.grid_count() > MAX_CHOICES:
            raise ValueError(f"randint gives {self.grid_count():,} values; a grid takes at most {MAX_CHOICES:,}")
        return list(range(self.low, self.high))


class Normal(_Dist):
    kind: Literal["normal"] = "normal"
    mu: float
    sigma: float


class LogNormal(_Dist):
    """exp(normal(mu, sigma)): the same in both input forms."""

    kind: Literal["lognormal"] = "lognormal"
    mu: float
    sigma: float


Distribution = Annotated[
    Union[Fixed, Choice, Uniform, LogUniform, QUniform, QLogUniform, RandInt, Normal, LogNormal],
    Field(discriminator="kind"),
]

_BY_KIND: dict[str, type[_Dist]] = {
    c.model_fields["kind"].default: c
    for c in (Fixed, Choice, Uniform, LogUniform, QUniform, QLogUniform, RandInt, Normal, LogNormal)
}
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "quniform", "qloguniform", "randint", "normal", "lognormal")
_ARITY = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "qloguniform": ("low", "high", "q"),
    "randint": ("low", "high"),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
}
_AZURE_ARITY = {
    "uniform": ("min_value", "max_value"),
    "loguniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"),
    "qloguniform": ("min_value", "max_value", "q"),
    "randint": ("upper",),
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
}
_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)
_OPENER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.S)
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
MAX_CHOICES = 10_000  # values of one parameter in a choice or a grid (docs/spec.md)
MAX_GRID_POINTS = 100_000  # points of a whole grid: the local sampler lists them (docs/spec.md)
_UNCOUNTABLE = 1 << 1100  # more values than a float can count: over every cap
INT_BOUND = 1 << 63  # randint bounds: the 64-bit integers numpy, Optuna and AutoGluon take
LOG_MAX = math.log(sys.float_info.max)  # exp() of more overflows
SIGMAS = 10  # a normal draw beyond 10 sigma has a chance below 1e-23: the range that must stay representable


def _err(message: str, **ctx: Any) -> PydanticCustomError:
    # formatted here: pydantic's own templating knows neither !r nor {{ escapes
    return PydanticCustomError("distribution", message.format(**ctx))


def _number(value: Any, what: str, dist: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err("{dist}: {what} must be a number, got {got!r}", dist=dist, what=what, got=value)
    if not math.isfinite(value):
        raise _err("{dist}: {what} must be finite, got {got}", dist=dist, what=what, got=value)
    return float(value)


def _integer(value: Any, what: str, dist: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err("{dist}: {what} must be an integer, got {got!r}", dist=dist, what=what, got=value)
    return value


def _choice(values: Any, form: str) -> Choice:
    if isinstance(values, range):
        values = list(values)
    if not isinstance(values, (list, tuple)) or not values:
        raise _err("choice needs a non-empty list of values, e.g. {example}", example=form)
    if len(values) > MAX_CHOICES:
        raise _err("choice has {n} values; at most {limit} are allowed", n=len(values), limit=MAX_CHOICES)
    seen: list[Any] = []
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise _err("choice values must be finite numbers, got {v}", v=v)
        if v is None or not isinstance(v, (bool, int, float, str)):
            raise _err(
                "choice values must be scalars (string, number or boolean), got {got!r}",
                got=v,
            )
        if any(type(v) is type(s) and v == s for s in seen):
            raise _err("choice lists the value {v!r} twice", v=v)
        seen.append(v)
    return Choice(values=tuple(values))


def make_distribution(kind: str, args: list[Any], *, azure: bool) -> _Dist:
    """Build one distribution; `azure=True` applies Azure ML's argument conventions."""
    if kind == "choice":
        if azure and len(args) == 1 and isinstance(args[0], (list, tuple, range)):
            args = list(args[0])
        return _choice(args, "choice('a', 'b')" if azure else "{choice: [a, b]}")
    names = _AZURE_ARITY[kind] if azure else _ARITY[kind]
    if azure and kind == "randint" and len(args) == 2:
        names = ("low", "high")  # tolerate the two-argument numpy form in strings too
    if kind == "randint" and not azure and len(args) == 1:
        args = [0, args[0]]
    if len(args) != len(names):
        shown = f"{kind}({', '.join(names)})" if azure else f"{{{kind}: [{', '.join(_ARITY[kind])}]}}"
        raise _err("{kind} takes {n} arguments: {shown}; got {got}", kind=kind, n=len(names), shown=shown, got=len(args))
    if kind == "randint":
        low, high = (
            (0, _integer(args[0], "upper", kind))
            if len(names) == 1
            else (
                _integer(args[0], "low", kind),
                _integer(args[1], "high", kind),
            )
        )
        if high <= low:
            raise _err("randint needs high > low (high is excluded), got [{low}, {high})", low=low, high=high)
        if not (-INT_BOUND <= low and high <= INT_BOUND):
            raise _err(
                "randint [{low}, {high}) passes the 64-bit integers (±2**63) that trials take; give smaller bounds",
                low=low,
                high=high,
            )
        return RandInt(low=low, high=high)
    nums = [_number(a, n, kind) for a, n in zip(args, names, strict=True)]
    if kind in ("normal", "lognormal"):
        mu, sigma = nums
        if sigma <= 0:
            raise _err("{kind}: sigma must be > 0, got {sigma}", kind=kind, sigma=sigma)
        reach = abs(mu) + SIGMAS * sigma  # the draws that happen: mu ± 10 sigma
        if kind == "lognormal" and reach > LOG_MAX:
            raise _err(
                "lognormal [{mu}, {sigma}]: exp(mu ± {n} sigma) would overflow a float (exp of more than {top:.0f}); "
                "mu and sigma are of the log of the value: lognormal [0, 1] draws values around 1",
                mu=mu,
                sigma=sigma,
                n=SIGMAS,
                top=LOG_MAX,
            )
        if kind == "normal" and not math.isfinite(reach):
            raise _err("normal [{mu}, {sigma}]: draws of mu ± {n} sigma would overflow a float", mu=mu, sigma=sigma, n=SIGMAS)
        return (Normal if kind == "normal" else LogNormal)(mu=mu, sigma=sigma)
    low, high = nums[0], nums[1]
    if high <= low:
        raise _err("{kind}: the upper bound must exceed the lower, got ({low}, {high})", kind=kind, low=low, high=high)
    q = nums[2] if len(nums) == 3 else None
    if q is not None and q <= 0:
        raise _err("{kind}: q must be > 0, got {q}", kind=kind, q=q)
    if kind in ("uniform", "quniform") and not math.isfinite(high - low):
        raise _err("{kind}: the range from {low} to {high} would overflow a float when drawn", kind=kind, low=low, high=high)
    if kind == "uniform":
        return Uniform(low=low, high=high)
    if kind == "quniform":
        _check_q(kind, low, high, q)
        return QUniform(low=low, high=high, q=q)
    # log distributions: Azure strings give exponents, mappings give values
    if azure:
        log_low, log_high = low, high
        try:
            low, high = math.exp(log_low), math.exp(log_high)
        except OverflowError:
            raise _err(
                "{kind}: exp({high}) overflows; Azure-style bounds are natural-log exponents", kind=kind, high=high
            ) from None
        if low == 0.0:
            raise _err("{kind}: exp({low}) underflows to 0", kind=kind, low=log_low)
    else:
        if low <= 0:
            raise _err(
                "{kind}: bounds are values and must be > 0, got {low}; "
                'to give natural-log exponents use the Azure string form "{kind}(min, max)"',
                kind=kind,
                low=low,
            )
        log_low, log_high = math.log(low), math.log(high)
    if kind == "loguniform":
        return LogUniform(low=low, high=high, log_low=log_low, log_high=log_high)
    _check_q(kind, low, high, q)
    return QLogUniform(low=low, high=high, log_low=log_low, log_high=log_high, q=q)


def _check_q(kind: str, low: float, high: float, q: float) -> None:
    """A q-distribution draws k * q for an integer k: refused where k is beyond a float or no k lands in range."""
    steps = q_steps(low, high, q)
    if steps is None:
        raise _err(
            "{kind} [{low}, {high}, {q}]: the bounds hold more multiples of q than a float can count ({top:g} / {q} "
            "overflows); give a larger q",
            kind=kind,
            low=low,
            high=high,
            q=q,
            top=max(abs(low), abs(high)),
        )
    if steps[1] < steps[0]:
        raise _err("{kind}: there is no multiple of q={q} in [{low}, {high}]", kind=kind, q=q, low=low, high=high)


def _suggest_kind(name: str) -> str:
    close = difflib.get_close_matches(name, DISTRIBUTIONS, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def parse_expression(text: str) -> _Dist | None:
    """Parse an Azure ML expression string; None when the string is not one (a fixed value)."""
    match = _CALL.match(text)
    if not match:
        opener = _OPENER.match(text)
        if opener and opener.group(1) in DISTRIBUTIONS:  # "uniform(0.01," is a broken expression, not a fixed value
            raise _err(
                "{text!r} opens like an Azure ML expression but does not parse: it needs a closing ')', e.g. {name}(...)",
                text=text,
                name=opener.group(1),
            )
        return None
    name = match.group(1)
    if name not in DISTRIBUTIONS:
        if difflib.get_close_matches(name, DISTRIBUTIONS, n=1, cutoff=0.75):
            raise _err(
                "unknown distribution '{name}' in {text!r}: {hint}valid ones: {valid}",
                name=name,
                text=text,
                hint=_suggest_kind(name),
                valid=", ".join(DISTRIBUTIONS),
            )
        return None
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _err("cannot parse {text!r}: {why}", text=text, why=exc.msg) from None
    call = tree.body
    if not isinstance(call, ast.Call) or call.keywords:
        raise _err("{text!r}: write the arguments by position, e.g. uniform(0.001, 0.1)", text=text)
    args = [_literal(node, text) for node in call.args]
    return make_distribution(name, args, azure=True)


def _literal(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        bounds = [_literal(a, text) for a in node.args]
        if not 1 <= len(bounds) <= 3 or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
            raise _err("{text!r}: range() takes 1 to 3 integers", text=text)
        if len(range(*bounds)) > MAX_CHOICES:
            raise _err("{text!r}: range() gives more than {limit} values", text=text, limit=MAX_CHOICES)
        return range(*bounds)
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise _err("{text!r}: arguments must be literal numbers or strings", text=text) from None


def parse_parameter(raw: Any) -> _Dist:
    """One parameter of the space, from any input form."""
    if isinstance(raw, _Dist):
        return raw
    if isinstance(raw, bool) or isinstance(raw, (int, float)):
        if isinstance(raw, float) and not math.isfinite(raw):
            raise _err("a fixed value must be finite, got {raw}", raw=raw)
        return Fixed(value=raw)
    if isinstance(raw, str):
        return parse_expression(raw) or Fixed(value=raw)
    if isinstance(raw, dict) and raw.get("kind") in _BY_KIND:
        # the internal form, as `JobSpec.to_dict()` writes it
        try:
            return _BY_KIND[raw["kind"]].model_validate(raw)
        except ValidationError as exc:
            raise _err("invalid {kind}: {why}", kind=raw["kind"], why=exc.errors()[0]["msg"]) from None
    if isinstance(raw, dict):
        if len(raw) != 1:
            raise _err(
                "a distribution is a mapping with one key (one of {valid}), got keys {keys}",
                valid=", ".join(DISTRIBUTIONS),
                keys=", ".join(map(str, raw)) or "none",
            )
        ((kind, args),) = raw.items()
        if kind not in DISTRIBUTIONS:
            raise _err(
                "unknown distribution '{kind}': {hint}valid ones: {valid}",
                kind=kind,
                hint=_suggest_kind(str(kind)),
                valid=", ".join(DISTRIBUTIONS),
            )
        if isinstance(args, dict) and kind != "choice":
            names = _ARITY[kind]
            unknown = [k for k in args if k not in names]
            if unknown or (kind != "randint" and len(args) != len(names)):
                raise _err(
                    "{kind} takes the keys {names}, got {got}",
                    kind=kind,
                    names=", ".join(names),
                    got=", ".join(map(str, args)) or "none",
                )
            args = [args.get("low", 0), args["high"]] if kind == "randint" else [args[n] for n in names]
        elif not isinstance(args, list):
            args = [args] if kind == "randint" else args
            if not isinstance(args, list):
                raise _err(
                    "{kind} takes a list of arguments, e.g. {{{kind}: [{names}]}}",
                    kind=kind,
                    names=", ".join(_ARITY.get(kind, ("a", "b"))),
                )
        return make_distribution(kind, list(args), azure=False)
    if isinstance(raw, list):
        raise _err("a list is not a parameter value; to sweep over these values write {{choice: [...]}}")
    raise _err("a parameter must be a scalar or a distribution, got {got}", got=type(raw).__name__)


_INPUT_SCHEMA = {
    "description": (
        "A fixed scalar, a distribution mapping such as {uniform: [0.001, 0.1]} "
        "(bounds are values), or an Azure ML expression string such as "
        '"loguniform(-9, -2)" (log bounds are natural-log exponents).'
    ),
    "anyOf": [
        {"type": ["string", "number", "boolean"]},
        {
            "type": "object",
            "properties": {"choice": {"type": "array", "minItems": 1}},
            "required": ["choice"],
            "additionalProperties": False,
        },
        *(
            {
                "type": "object",
                "properties": {k: {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": len(_ARITY[k])}},
                "required": [k],
                "additionalProperties": False,
            }
            for k in DISTRIBUTIONS
            if k != "choice"
        ),
    ],
}


def _parse_validator(raw: Any) -> Any:
    return parse_parameter(raw)


Parameter = Annotated[Distribution, BeforeValidator(_parse_validator), WithJsonSchema(_INPUT_SCHEMA)]
SubSpace = dict[str, Parameter]


class SearchSpace(BaseModel):
    """A list of alternative sub-spaces; a plain mapping is the list of one."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    subspaces: tuple[SubSpace, ...]

    @property
    def is_conditional(self) -> bool:
        return len(self.subspaces) > 1

    def parameter_names(self) -> list[str]:
        names: dict[str, None] = {}
        for sub in self.subspaces:
            names.update(dict.fromkeys(sub))
        return list(names)

    def distributions(self) -> Iterator[tuple[int, str, _Dist]]:
        for i, sub in enumerate(self.subspaces):
            for name, dist in sub.items():
                yield i, name, dist

    @property
    def is_discrete(self) -> bool:
        return all(d.is_discrete for _, _, d in self.distributions())

    def grid_size(self) -> int:
        """The number of grid points, from each parameter's count: nothing is listed."""
        return sum(math.prod(d.grid_count() for d in sub.values()) for sub in self.subspaces)

    def grid(self) -> Iterator[dict[str, Scalar]]:
        """Every point of a discrete space, sub-space after sub-space, in a stable order."""
        for sub in self.subspaces:
            names = list(sub)
            for combo in itertools.product(*(sub[n].grid_values() for n in names)):
                yield dict(zip(names, combo, strict=True))


DURATION_PARAMETERS = ("time_limit",)  # read as limits.timeout is: 10m, 90s, 2h or seconds


def _seconds(value: Any) -> Any:
    """A duration string (`10m`) as seconds; anything else as it is, for the checks to judge."""
    from .types import parse_duration

    if isinstance(value, str) and not value.strip().replace(".", "", 1).isdigit():
        try:
            return parse_duration(value)
        except ValueError:
            return value
    return value


def _durations(sub: Any) -> Any:
    if not isinstance(sub, dict):
        return sub
    out = dict(sub)
    for name in DURATION_PARAMETERS:
        value = out.get(name)
        if isinstance(value, dict) and isinstance(value.get("choice"), list):
            out[name] = {**value, "choice": [_seconds(v) for v in value["choice"]]}
        elif name in out:
            out[name] = _seconds(value)
    return out


def _space_from_input(raw: Any) -> Any:
    if isinstance(raw, SearchSpace):
        return raw
    if isinstance(raw, dict) and set(raw) == {"subspaces"} and isinstance(raw["subspaces"], list):
        return raw  # the internal form
    if isinstance(raw, dict):
        return {"subspaces": [_durations(raw)]}
    if isinstance(raw, list):
        return {"subspaces": [_durations(sub) for sub in raw]}
    raise PydanticCustomError(
        "space_type",
        "the space is a mapping of parameter names to values, or a list of such mappings (alternative sub-spaces); got {got}",
        {"got": type(raw).__name__},
    )


_SPACE_SCHEMA = {
    "description": "Parameter name -> value or distribution; a list of mappings gives alternative sub-spaces.",
    "anyOf": [
        {"type": "object", "additionalProperties": _INPUT_SCHEMA},
        {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": _INPUT_SCHEMA}},
    ],
}

SpaceInput = Annotated[SearchSpace, BeforeValidator(_space_from_input), WithJsonSchema(_SPACE_SCHEMA)]

__all__ = [
    "Choice",
    "DISTRIBUTIONS",
    "Distribution",
    "Fixed",
    "LogNormal",
    "LogUniform",
    "Normal",
    "QLogUniform",
    "QUniform",
    "RandInt",
    "SearchSpace",
    "SpaceInput",
    "Uniform",
    "make_distribution",
    "parse_expression",
    "parse_parameter",
]
