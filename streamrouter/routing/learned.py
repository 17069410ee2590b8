"""The learned router: a small local text model that predicts whether the cheapest tier
will do, from the prompt alone. No network, no downloaded weights.

The model is scikit-learn: TF-IDF over word 1-2-grams and character 3-5-grams, plus a
few length and number counts, into a logistic regression. It outputs ``score(prompt)``,
the probability that the cheapest tier is **not** enough; ``needs_strong(prompt)`` is
``score >= cutoff``. Training labels are "the cheapest tier sufficed", from labeled data
(the weak model was right, or the strong one was no better) or from the service's own
history (a cheap answer kept vs escalated; see :func:`labels_from_history`).

``LearnedRouter.save`` writes one file (joblib: a pickle; load only files you made);
``load`` checks its format version. Pure apart from ``save``/``load``: ``score`` and
``needs_strong`` do no I/O. scikit-learn is imported only when a router is trained or
loaded (the ``eval`` extra).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "LearnedRouter", "LearnedRouterError", "labels_from_history"]

FORMAT_VERSION = 1
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class LearnedRouterError(ValueError):
    """The router file is missing, not a router, or of another format version."""


def _shape_features(prompts: Iterable[str]) -> list[list[float]]:
    """Per prompt: log length, log word count, numbers in it, lines (scaled to ~1)."""
    import math

    rows = []
    for prompt in prompts:
        rows.append(
            [
                math.log1p(len(prompt)) / 10,
                math.log1p(len(prompt.split())) / 8,
                min(len(_NUMBER.findall(prompt)), 50) / 10,
                min(prompt.count("\n"), 50) / 10,
            ]
        )
    return rows


def _build_model(c: float, seed: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(3, 5),
                    min_df=3,
                    sublinear_tf=True,
                    max_features=50_000,
                ),
            ),
            ("shape", FunctionTransformer(_shape_features)),
        ]
    )
    classifier = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
    return make_pipeline(features, classifier)


@dataclass
class LearnedRouter:
    """A trained model and its cut-off; ``meta`` records how it was trained."""

    model: Any
    cutoff: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def train(
        cls,
        prompts: Sequence[str],
        weak_suffices: Sequence[bool],
        *,
        c: float = 1.0,
        seed: int = 0,
        meta: Mapping[str, Any] | None = None,
    ) -> LearnedRouter:
        """Fit on prompts labeled "the cheapest tier sufficed" (True) or not (False)."""
        if len(prompts) != len(weak_suffices):
            raise ValueError("prompts and labels differ in length")
        labels = [0 if ok else 1 for ok in weak_suffices]  # 1: needs a stronger tier
        if len(set(labels)) < 2:
            raise ValueError("training needs examples of both outcomes")
        model = _build_model(c, seed).fit(list(prompts), labels)
        info = {"examples": len(labels), "needs_strong": sum(labels), "c": c, **(meta or {})}
        return cls(model=model, meta=info)

    def score(self, prompts: Sequence[str]) -> list[float]:
        """P(the cheapest tier is not enough), per prompt."""
        return [float(p) for p in self.model.predict_proba(list(prompts))[:, 1]]

    def needs_strong(self, prompt: str) -> bool:
        """Route past the cheapest tier: the score reaches the cut-off."""
        return self.score([prompt])[0] >= self.cutoff

    def with_cutoff(self, cutoff: float) -> LearnedRouter:
        return LearnedRouter(self.model, float(cutoff), dict(self.meta))

    def save(self, path: str | Path) -> None:
        import joblib

        joblib.dump(
            {
                "format": "streamrouter-learned-router",
                "version": FORMAT_VERSION,
                "model": self.model,
                "cutoff": self.cutoff,
                "meta": self.meta,
            },
            Path(path),
        )

    @classmethod
    def load(cls, path: str | Path) -> LearnedRouter:
        import joblib

        try:
            data = joblib.load(Path(path))
        except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError) as exc:
            raise LearnedRouterError(f"cannot read learned router {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != "streamrouter-learned-router":
            raise LearnedRouterError(f"{path} is not a streamrouter learned router")
        if data.get("version") != FORMAT_VERSION:
            raise LearnedRouterError(
                f"{path}: router format version {data.get('version')}, expected {FORMAT_VERSION}"
            )
        return cls(model=data["model"], cutoff=float(data["cutoff"]), meta=dict(data["meta"]))


def labels_from_history(
    prompts: Mapping[str, str], results: Iterable[Any], cheapest_tier: str
) -> tuple[list[str], list[bool]]:
    """Training pairs from the service's own results (``LLMResult``s, with their prompts
    by request id): a request whose cheapest-tier answer was kept -> True, one that
    escalated from it -> False. Requests that never reached that tier, or whose prompt
    is unknown, are skipped."""
    texts: list[str] = []
    labels: list[bool] = []
    for result in results:
        prompt = prompts.get(result.request_id)
        outcomes = [a.outcome for a in result.attempts if a.tier == cheapest_tier]
        if prompt is None or result.status != "ok":
            continue
        if "escalated" in outcomes:
            texts.append(prompt)
            labels.append(False)
        elif "answered" in outcomes:
            texts.append(prompt)
            labels.append(True)
    return texts, labels
