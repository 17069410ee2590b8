"""Checks of an answer's own text, for the escalation confidence. Pure, no I/O.

* ``arithmetic_errors``: stated calculations that do not hold (``12 x 3 = 38``), read
  from the answer's text: an arithmetic expression, ``=``, a number, chained
  (``a + b = c + d = e``). Only expressions that stand alone are checked (not one whose
  left side continues a word, ``3 * (s + 9)`` or ``points * 1.25 = 5``), and a running
  computation (``6 x 6 = 36 / 12 = 3``) is not taken for an error. Calculator
  annotations (``<<15*2=30>>30``) are checked too: the annotation and the number shown
  after it.
* ``calculations``: how many stated calculations the answer has (a worked solution).
* ``works_calculation``: the answer is a worked calculation at all: a stated
  calculation, a calculator annotation, a ``#### 42`` or ``\\boxed{}`` final answer, or a
  line with ``=`` that computes with numbers (units and labels allowed, ``6 feet x 4 feet``,
  ``20 (Monday) + 15``, ``2S - 5 = 45``). Prose and code that merely mention numbers or
  assign a value (``timeout = 30``) are not; the other checks are meant for answers that are.
* ``has_final_answer_marker``: the answer states its final answer in a recognisable
  form (``#### 42``, ``\\boxed{42}``, ``The answer is``, ``Final answer:``, ``Answer:``).
* ``looks_unfinished``: the text stops mid-way: an unclosed ``<<``, ``(``, ``[`` or
  ``{``, or a last character that cannot end a statement (an operator, ``=``, ``,``).
* ``final_answer``: the number the answer gives as its final answer (after the last
  marker, else the last number of the text).
* ``conflicting_final_answers``: the final-answer statement names more than one number
  (``#### 3 and 1``, ``225 minutes or 3 hours``), or two markers disagree.
* ``final_answer_unsupported``: the answer works calculations, but its final answer is
  not the result of the last one (allowing a percentage of a ratio and rounding to a
  whole number).
* ``rounded_intermediate``: a stated calculation's result is rounded from its exact
  value (``4.00/15 = 0.27``, ``<<10/3=3.33>>``): later steps then carry the rounding.
* ``fractional_final_answer``: the final answer is not a whole number.

These know nothing of any dataset or label; they read the answer as a reviewer would.
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "arithmetic_errors",
    "calculations",
    "conflicting_final_answers",
    "final_answer",
    "final_answer_unsupported",
    "fractional_final_answer",
    "has_final_answer_marker",
    "looks_unfinished",
    "rounded_intermediate",
    "works_calculation",
]

_NUMBER: Final = r"\$?-?\d[\d,]*(?:\.\d+)?%?"
_EXPRESSION: Final = r"[\d$(][\d\s.,$()+\-*/xX\u00d7\u00f7%\\]*"
_CHAIN: Final = re.compile(
    rf"(?:{_EXPRESSION}=\s*)+{_NUMBER}(?![\d.,]*\d)(?!\s*[-+*/\u00d7\u00f7xX]\s*[\w($])"
)
_ANNOTATION: Final = re.compile(r"<<([^<>=]+)=([^<>]+)>>\s*\$?(-?\d[\d,]*(?:\.\d+)?)?")
_ANY_ANNOTATION: Final = re.compile(r"<<[^<>]*>>")
_ANY_NUMBER: Final = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_MARKED_LINE: Final = re.compile(
    r"(?:####|\\boxed\{|\bfinal answer\b\s*(?:is)?:?|\bthe answer is\b|^\s*answer\s*:)([^\n]*)",
    re.IGNORECASE | re.M,
)
_RESULT: Final = re.compile(
    r"=\s*\$?(-?\d[\d,]*(?:\.\d+)?)(?![\d.,]*\d)(?!\s*[-+*/\u00d7\u00f7xX(])"
)
_LEADING_NUMBER: Final = re.compile(r"\s*\$?(-?\d[\d,]*(?:\.\d+)?)\s*[-+*/\u00d7\u00f7xX]")
_OPERATOR: Final = re.compile(r"[-+*/\u00d7\u00f7xX]")
_FINAL_MARKER: Final = re.compile(
    r"####|\\boxed\{|\bfinal answer\b|\bthe answer is\b|^\s*answer\s*:", re.IGNORECASE | re.M
)
_MATH_MARKER: Final = re.compile(r"####\s*\$?-?\d|\\boxed\{|<<[\d(.$][^<>\n]*[-+*/=]")
_LABEL: Final = r"(?:[A-Za-z]+\s*|\([^()\n]*\)\s*)"
_NUMBERS_OPERATED: Final = re.compile(
    rf"\d[\d,.]*[%\"']?\s*{_LABEL}{{0,3}}[-+*/\u00d7\u00f7xX]\s*[$(]?\s*\d"
)
_OPERATION_RESULT: Final = re.compile(r"\d[^\n=]*?[-+*/\u00d7\u00f7xX][^\n=]*?=\s*\$?-?\.?\d")
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
        # "<<a=b=c>>": every step of the chain must hold, and c is the result.
        values = [_value(match.group(1)), *(_value(p) for p in match.group(2).split("="))]
        steps = [
            (left, right)
            for left, right in itertools.pairwise(values)
            if left is not None and right is not None
        ]
        if not steps:
            continue
        checked += 1
        errors += any(_differ(left, right) for left, right in steps)
        result = values[-1]
        if match.group(3) and result is not None:
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


def works_calculation(text: str) -> bool:
    """The answer works a calculation: it states one (``calculations``), has a calculator
    annotation or a ``####``/``\\boxed{}`` final answer, or has a line with ``=`` that
    operates on numbers (``6 feet x 4 feet``, ``20 (Monday) + 15``) or gives the result of
    an operation (``2S - 5 = 45``). Ordinary prose and code are not worked calculations."""
    if _MATH_MARKER.search(text) or calculations(text):
        return True
    return any(
        _NUMBERS_OPERATED.search(line) or _OPERATION_RESULT.search(line)
        for line in text.splitlines()
        if "=" in line
    )


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


def _numbers(text: str) -> list[float]:
    values = (_value(number) for number in _ANY_NUMBER.findall(text))
    return [value for value in values if value is not None]


def _final_statements(text: str) -> list[str]:
    return [match.group(1) for match in _MARKED_LINE.finditer(text)]


def final_answer(text: str) -> float | None:
    """The number ``text`` gives as its final answer: the first number after the last
    final-answer marker, else the last number of the text; None if there is none."""
    plain = _ANY_ANNOTATION.sub("", text)
    for statement in reversed(_final_statements(plain)):
        numbers = _numbers(statement)
        if numbers:
            return numbers[0]
    numbers = _numbers(plain)
    return numbers[-1] if numbers else None


def conflicting_final_answers(text: str) -> bool:
    """The final answer is not one number: the last marked statement names several
    (``#### 3 and 1``), or marked statements disagree (``#### 12`` ... ``#### 14``)."""
    plain = _ANY_ANNOTATION.sub("", text)
    firsts = set()
    last: list[float] = []
    for statement in _final_statements(plain):
        numbers = _numbers(statement)
        if numbers:
            firsts.add(numbers[0])
            last = numbers
    return len(firsts) > 1 or len(set(last)) > 1


def _results(text: str) -> list[float]:
    """The results of the stated calculations, in order (annotations and ``= n``)."""
    found: list[tuple[int, float]] = []
    for match in _ANNOTATION.finditer(text):
        result = _value(match.group(2).split("=")[-1])
        if result is not None:
            found.append((match.start(), result))
    masked = _ANY_ANNOTATION.sub(lambda m: " " * len(m.group(0)), text)
    for match in _RESULT.finditer(masked):
        result = _value(match.group(1))
        if result is not None:
            found.append((match.start(), result))
    return [value for _, value in sorted(found)]


def final_answer_unsupported(text: str) -> bool:
    """The answer works calculations but its final answer is not the last one's result.

    A percentage of a ratio (0.6 -> 60) and rounding to a whole number (1.33 -> 2) count
    as the result. Only answers with a marked final answer are judged."""
    if not _final_statements(text) or not calculations(text):
        return False
    answer, results = final_answer(text), _results(_MARKED_LINE.sub("", text))
    if answer is None or not results:
        return False
    last = results[-1]
    accepted = (last, 100 * last, math.floor(last), math.ceil(last))
    return all(_differ(value, answer) for value in accepted)


def rounded_intermediate(text: str) -> bool:
    """A stated calculation's result is a rounding of its exact value (``10/3 = 3.33``,
    ``<<4/15=0.2666>>0.27``): the steps after it carry the rounding."""
    for match in _ANNOTATION.finditer(text):
        values = [_value(match.group(1)), *(_value(p) for p in match.group(2).split("="))]
        if match.group(3):
            values.append(_value(match.group(3)))
        if _rounded_step([value for value in values if value is not None]):
            return True
    for match in _CHAIN.finditer(_ANY_ANNOTATION.sub("", text)):
        if _rounded_step([_value(part) for part in match.group(0).split("=")]):
            return True
    return False


def _rounded_step(values: list[float | None]) -> bool:
    """Two consecutive values differ, but only by rounding."""
    return any(
        a is not None and b is not None and abs(a - b) > 1e-9 and not _differ(a, b)
        for a, b in itertools.pairwise(values)
    )


def fractional_final_answer(text: str) -> bool:
    """The final answer is not a whole number (counts, people, items usually are)."""
    answer = final_answer(text)
    return answer is not None and abs(answer - round(answer)) > 1e-9
