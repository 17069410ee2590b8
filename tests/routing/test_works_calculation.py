"""Which answers are worked calculations (``answer_checks.works_calculation``): only those
get the checks meant for worked math answers."""

from __future__ import annotations

import pytest

from streamrouter.routing.answer_checks import works_calculation


@pytest.mark.parametrize(
    "text",
    [
        "She has 12 + 15 = 27 marbles.",
        "So 6 x 6 = 36 / 12 = 3 pizzas",
        "<<15*2=30>>30 cups",
        "a total of 15 + 25 = <<15+2",  # cut off inside the annotation
        "#### 42",
        "The answer is \\boxed{7}.",
        "Volume = 6 feet \u00d7 4 feet \u00d7 5 feet",
        "400 feet * 3 = 1200 feet",
        "Sam sold 20 (weekend) + 15 (Tuesday) = 35 crates.",
        'Anne is 36" * 2 = 72" tall.',
        "\\( 45 = 2S - 5 \\)",
        "H = 88,000 / 11",
    ],
)
def test_worked_calculations(text: str) -> None:
    assert works_calculation(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "However, you could use a list instead.",
        "In 2019-2020, however, sales rose 5% (see pages 10-12).",
        "About 300 people came, roughly twice as many as last year.",
        "#### Installation\nRun make.",  # a Markdown heading, not a final answer
        "count = 0\nfor item in items:\n    count += 1",
        "Set timeout = 30 and retries = 3 instead.",
        "for i in range(len(a) - 1): b[i] = a[i + 1]",
        "std::cout << value << std::endl;",
        "She has 12 apples.",
    ],
)
def test_prose_and_code_are_not_worked_calculations(text: str) -> None:
    assert not works_calculation(text)
