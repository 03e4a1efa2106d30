"""Safe expressions over a graph run's data: conditions, computed fields, `{{ ... }}` templates.

Expressions are evaluated by simpleeval (an AST walker with no access to builtins, attributes
starting with `_`, imports or `eval`), over the names `input` and `nodes` (dicts: `a.b` reads
the key `b` of `a`) and a few pure functions (`FUNCTIONS`). A template is a string; each
`{{ expression }}` in it is replaced by its value, and a string that is one template and
nothing else takes the value itself (a number stays a number).

The workflow never imports this module: expressions are evaluated in activities
(activities/graphs.py), and checked before a definition is stored (client/graphs.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from core.errors import InvalidInputError

TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
MAX_EXPRESSION = 2000

FUNCTIONS: dict[str, Any] = {
    "len": len,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "round": round,
    "abs": abs,
    "min": min,
    "max": max,
    "sum": sum,
    "sorted": sorted,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "strip": lambda s: str(s).strip(),
    "join": lambda sep, items: str(sep).join(str(i) for i in items),
    "get": lambda mapping, key, default=None: mapping.get(key, default) if isinstance(mapping, Mapping) else default,
}


class ExpressionError(InvalidInputError):
    """An expression is not valid, or failed on the run's data."""


def _evaluator(names: Mapping[str, Any]) -> EvalWithCompoundTypes:
    return EvalWithCompoundTypes(names=dict(names), functions=FUNCTIONS)


def expression_problem(expression: str) -> str | None:
    """Why `expression` cannot be parsed (None: it parses). Names are not checked: data varies."""
    if len(expression) > MAX_EXPRESSION:
        return f"longer than {MAX_EXPRESSION} characters"
    try:
        _evaluator({}).parse(expression.strip())
    except SyntaxError as err:
        return f"not an expression: {err.msg}"
    except (InvalidExpression, ValueError) as err:
        return str(err)
    return None


def template_problems(value: Any) -> list[str]:
    """Every `{{ ... }}` in `value` (strings inside dicts and lists too) that does not parse."""
    problems: list[str] = []
    for text in _strings(value):
        for match in TEMPLATE.finditer(text):
            problem = expression_problem(match.group(1))
            if problem:
                problems.append(f"{{{{{match.group(1)}}}}}: {problem}")
    return problems


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """The value of `expression` over `names`; ExpressionError (not retryable) when it fails."""
    try:
        return _evaluator(names).eval(expression.strip())
    except SyntaxError as err:
        raise ExpressionError(f"{expression!r} is not an expression: {err.msg}") from None
    except Exception as err:  # simpleeval raises many kinds: a missing name, a type error ...
        raise ExpressionError(f"{expression!r} failed: {type(err).__name__}: {err}") from None


def render(value: Any, names: Mapping[str, Any]) -> Any:
    """`value` with every template evaluated (dicts and lists walked; other values kept)."""
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value.strip())
        if whole and value.strip().count("{{") == 1:
            return evaluate(whole.group(1), names)
        return TEMPLATE.sub(lambda m: _text(evaluate(m.group(1), names)), value)
    if isinstance(value, dict):
        return {k: render(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, names) for v in value]
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
