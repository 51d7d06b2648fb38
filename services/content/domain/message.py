"""The one-message check: do the reps tell prospects what marketing says?

The article's test: ask each rep "what is your value proposition?"; if the answers
differ, sales and marketing are not aligned. Marketing publishes the value proposition
per segment; each rep answers in their own words; :func:`check` scores every answer of
one segment:

- ``with_message``: cosine similarity of the answer to the published message,
- ``with_peers``: its mean cosine similarity to the other reps' answers for the segment
  (None when it is the only answer),
- ``consistency``: the mean of the two (``with_message`` alone without peers).

Text is compared locally, with no model to download: TF-IDF over word unigrams and
bigrams (English stop words dropped) joined with TF-IDF over character 3–5-grams within
words (so "aligned" and "alignment" still meet), fitted on the message and the
segment's answers; each part is L2-normalised, so the cosine is the mean of the word and
character cosines. The scores are in [0, 1].

An answer is an *outlier* when its consistency is below ``outlier_below`` (absolute) or
more than ``outlier_margin`` below the median of the segment's answers (relative: one
rep far from everyone else). Its *missing terms* are the published message's key terms
(its ``key_terms`` word unigrams of highest TF-IDF weight) that the answer never uses
(in any form: "leads" uses "lead", "graded" uses "grading").
:func:`by_team` groups the scored answers per team for the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import mean, median

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.pipeline import FeatureUnion

OUTLIER_BELOW = 0.2
OUTLIER_MARGIN = 0.2
KEY_TERMS = 8


@dataclass(frozen=True)
class Answer:
    """A rep's answer to "what is your value proposition?" for one segment."""

    rep_id: str
    team: str
    text: str


@dataclass(frozen=True)
class AnswerScore:
    rep_id: str
    team: str
    with_message: float
    with_peers: float | None
    consistency: float
    missing_terms: tuple[str, ...]
    outlier: bool


@dataclass(frozen=True)
class SegmentCheck:
    """Every answer of one segment, most consistent first, and the message's key terms."""

    key_terms: tuple[str, ...]
    answers: tuple[AnswerScore, ...]

    @property
    def consistency(self) -> float | None:
        return mean(a.consistency for a in self.answers) if self.answers else None


@dataclass(frozen=True)
class TeamCheck:
    team: str
    consistency: float
    answers: tuple[AnswerScore, ...]  # most consistent first

    @property
    def outliers(self) -> tuple[AnswerScore, ...]:
        return tuple(a for a in self.answers if a.outlier)


def _vectoriser() -> FeatureUnion:
    return FeatureUnion([
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), stop_words="english", sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
    ])


def key_terms(message: str, corpus: Sequence[str], n: int = KEY_TERMS) -> tuple[str, ...]:
    """The message's ``n`` word unigrams of highest TF-IDF weight over ``corpus`` (which
    includes the message), highest first; ties in alphabetical order."""
    words = TfidfVectorizer(analyzer="word", stop_words="english", sublinear_tf=True)
    try:
        matrix = words.fit_transform([message, *corpus])
    except ValueError:  # nothing but stop words
        return ()
    row = matrix[0].tocoo()
    vocabulary = words.get_feature_names_out()
    ranked = sorted(zip(row.data.tolist(), row.col.tolist(), strict=True), key=lambda wc: (-wc[0], vocabulary[wc[1]]))
    return tuple(str(vocabulary[c]) for _, c in ranked[:n])


_SUFFIXES = ("ments", "ment", "ings", "ing", "ies", "es", "ed", "s", "e")


def _stem(word: str) -> str:
    """A crude stem, enough that "leads" uses "lead" and "graded" uses "grading"."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words_of(text: str) -> set[str]:
    analyse = TfidfVectorizer(analyzer="word", stop_words="english").build_analyzer()
    return {_stem(w) for w in analyse(text)}


def check(message: str, answers: Sequence[Answer], *, n_terms: int = KEY_TERMS,
          outlier_below: float = OUTLIER_BELOW, outlier_margin: float = OUTLIER_MARGIN) -> SegmentCheck:
    """Score each answer against the published ``message`` and the other answers (see the
    module's docstring)."""
    if not answers:
        return SegmentCheck(key_terms(message, []), ())
    texts = [a.text for a in answers]
    matrix = _vectoriser().fit_transform([message, *texts])
    similarity = cosine_similarity(matrix).tolist()
    terms = key_terms(message, texts, n_terms)
    raw = []
    for i, answer in enumerate(answers, start=1):
        with_message = min(1.0, max(0.0, similarity[0][i]))
        peers = [similarity[i][j] for j in range(1, len(answers) + 1) if j != i]
        with_peers = min(1.0, max(0.0, mean(peers))) if peers else None
        consistency = with_message if with_peers is None else (with_message + with_peers) / 2
        used = _words_of(answer.text)
        raw.append((answer, with_message, with_peers, consistency, tuple(t for t in terms if _stem(t) not in used)))
    middle = median(c for *_, c, _ in raw)
    scored = [AnswerScore(a.rep_id, a.team, round(m, 4), None if p is None else round(p, 4), round(c, 4), missing,
                          c < outlier_below or (len(raw) > 2 and c < middle - outlier_margin))
              for a, m, p, c, missing in raw]
    return SegmentCheck(terms, tuple(sorted(scored, key=lambda s: (-s.consistency, s.rep_id))))


def by_team(segment: SegmentCheck) -> list[TeamCheck]:
    """The segment's scored answers per team (teams in name order), each team's
    consistency the mean of its answers'."""
    teams: dict[str, list[AnswerScore]] = defaultdict(list)
    for a in segment.answers:
        teams[a.team].append(a)
    return [TeamCheck(t, round(mean(a.consistency for a in rows), 4), tuple(rows)) for t, rows in sorted(teams.items())]


SEND_FIRST = ("value_proposition", "proof_point", "case_study", "battlecard", "one_pager", "deck", "video")


def items_to_send(items: Sequence[tuple[str, str, str]], effectiveness: Mapping[str, float],
                  n: int = 3) -> list[tuple[str, str, str]]:
    """What to send an outlying rep to bring them back on message: the segment's published
    ``(item_id, title, kind)`` items, the value proposition itself first, then proof points
    and case studies (:data:`SEND_FIRST`), each kind by measured effectiveness; at most ``n``."""
    def order(item: tuple[str, str, str]) -> tuple[int, float, str]:
        kind = SEND_FIRST.index(item[2]) if item[2] in SEND_FIRST else len(SEND_FIRST)
        return kind, -effectiveness.get(item[0], 0.0), item[0]
    return sorted(items, key=order)[:n]
