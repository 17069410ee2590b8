"""Checks of an answer's own text, for the escalation confidence. Pure, no I/O.

* ``arithmetic_errors``: stated calculations that do not hold (``12 x 3 = 38``), read
  from the answer's text: an arithmetic expression, ``=``, a number, chained
  (``a + b = c + d = e``). Only expressions that stand alone are checked (not one whose
  left side continues a word, ``3 * (s + 9)`` or ``points * 1.25 = 5``), and a running
  computation (``6 x 6 = 36 / 12 = 3``) is not taken for an error. Calculator
  annotations (``<<15*2=30>>30``) are checked too: the annotation and the number shown
  after it.
* ``calculations``: how many stated calculations the answer has (a worked solution).
* ``has_final_answer_marker``: the answer states its final answer in a recognisable
  form (``#### 42``, ``\\boxed{42}``, ``The answer is``, ``Final answer:``, ``Answer:``).
* ``looks_unfinished``: the text stops mid-way: an unclosed ``<<``, ``(``, ``[`` or
  ``{``, or a last character that cannot end a statement (an operator, ``=``, ``,``).

These know nothing of any dataset or label; they read the answer as a reviewer would.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "arithmetic_errors",
    "calculations",
    "has_final_answer_marker",
    "looks_unfinished",
]

_NUMBER: Final = r"\$?-?\d[\d,]*(?:\.\d+)?%?"
_EXPRESSION: Final = r"[\d$(][\d\s.,$()+\-*/xX\u00d7\u00f7%\\]*"
_CHAIN: Final = re.compile(
    rf"(?:{_EXPRESSION}=\s*)+{_NUMBER}(?![\d.,]*\d)(?!\s*[-+*/\u00d7\u00f7xX]\s*[\w($])"
)
_ANNOTATION: Final = re.compile(r"<<([^<>=]+)=([^<>]+)>>\s*\$?(-?\d[\d,]*(?:\.\d+)?)?")
_LEADING_NUMBER: Final = re.compile(r"\s*\$?(-?\d[\d,]*(?:\.\d+)?)\s*[-+*/\u00d7\u00f7xX]")
_OPERATOR: Final = re.compile(r"[-+*/\u00d7\u00f7xX]")
_FINAL_MARKER: Final = re.compile(
    r"####|\\boxed\{|\bfinal answer\b|\bthe answer is\b|^\s*answer\s*:", re.IGNORECASE | re.M
)
_CANNOT_END: Final = tuple("+-*/\u00d7\u00f7=,(<[{")
_OPS: Final[dict[type, Callable[[float, float], float]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    raise ValueError("not plain arithmetic")


def _value(text: str) -> float | None:
    """The value of an arithmetic expression as people write it, or None."""
    expression = text.replace("\\", "").replace("$", "").replace(",", "")
    expression = expression.replace("\u00d7", "*").replace("\u00f7", "/")
    expression = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", expression)
    expression = re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", "*", expression).strip()
    if not re.search(r"\d", expression) or len(expression) > 200:
        return None
    try:
        return _evaluate(ast.parse(expression, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
        return None


def _differ(a: float, b: float) -> bool:
    """Different beyond rounding: 1 cent, or 0.6 % of the stated value."""
    return abs(a - b) > max(0.011, 0.006 * abs(b))


def _chain_errors(text: str) -> tuple[int, int]:
    errors = checked = 0
    for match in _CHAIN.finditer(text):
        before = text[: match.start()].rstrip()
        if before and before[-1] in "+-*/\u00d7\u00f7xX=(^":
            continue  # the expression continues one that began earlier
        if re.search(r"[A-Za-z]\s*[-+*/\u00d7\u00f7]\s*$", before):
            continue
        parts = match.group(0).split("=")
        values = [_value(part) for part in parts]
        for index in range(len(parts) - 1):
            left, right = values[index], values[index + 1]
            if left is None or right is None:
                continue
            if not (_OPERATOR.search(parts[index]) or _OPERATOR.search(parts[index + 1])):
                continue  # "80 = 20" states no calculation ("25% of 80 = 20")
            lead = _LEADING_NUMBER.match(parts[index + 1])
            if (
                lead
                and _OPERATOR.search(parts[index])
                and _value(lead.group(1)) == left  # "6 x 6 = 36 / 12": a running total
            ):
                continue
            checked += 1
            errors += _differ(left, right)
    return errors, checked


def _annotation_errors(text: str) -> tuple[int, int]:
    errors = checked = 0
    for match in _ANNOTATION.finditer(text):
        expression, result = _value(match.group(1)), _value(match.group(2))
        if expression is None or result is None:
            continue
        checked += 1
        errors += _differ(expression, result)
        if match.group(3):
            shown = _value(match.group(3))
            if shown is not None and _differ(shown, result) and shown != round(result):
                errors += 1
    return errors, checked


def arithmetic_errors(text: str) -> int:
    """How many stated calculations in ``text`` do not hold."""
    plain = re.sub(r"<<[^<>]*>>", "", text)  # annotations repeat the text's calculations
    return _chain_errors(plain)[0] + _annotation_errors(text)[0]


def calculations(text: str) -> int:
    """How many stated calculations ``text`` has (checked or not)."""
    return _chain_errors(re.sub(r"<<[^<>]*>>", "", text))[1] + _annotation_errors(text)[1]


def has_final_answer_marker(text: str) -> bool:
    return _FINAL_MARKER.search(text) is not None


def looks_unfinished(text: str) -> bool:
    stripped = text.rstrip()
    if not stripped:
        return False
    unclosed = any(
        stripped.count(opening) > stripped.count(closing)
        for opening, closing in (("<<", ">>"), ("(", ")"), ("[", "]"), ("{", "}"))
    )
    return unclosed or stripped.endswith(_CANNOT_END)
