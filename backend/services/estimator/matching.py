"""Task splitting and job-kind matching over normalised text.

The text is cut into sentences and clauses; each job kind's trigger patterns are searched
in priority order and a match *claims* its words, so a generic kind ("paint") cannot fire
again on words a specific kind ("paint kitchen cabinets") already explained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from backend.services.estimator.catalogue import JobKind, all_kinds

_SENTENCE_RE = re.compile(r"[.!?;\n]+(?=\s|$)")
_CLAUSE_RE = re.compile(r",|:|\(|\)|\b(?:and|plus|then|also|but)\b|\s-\s")
_SUPPLIED_RE = re.compile(
    r"\b(?:customer|client|homeowner|home\s+owner|owner|tenant|they)(?:'s)?\s+(?:already\s+|will\s+)?"
    r"(?:has|have|had|bought|buys|purchased|picked|supplies|supply|supplied|provides?|provided|got|gets"
    r"|is\s+supplying|is\s+providing)\b"
    r"|\b(?:customer|client|owner|homeowner)[- ](?:supplied|provided|bought)\b"
    r"|\bsupplied\s+by\s+(?:the\s+)?(?:customer|client|owner|homeowner)"
    r"|\blabou?r\s+only\b"
)
_LABOUR_ONLY_RE = re.compile(r"\blabou?r\s+only\b")
_OBJECT_STOP = frozenset([
    "the", "a", "an", "already", "own", "their", "them", "it", "up", "new", "one", "ones", "those",
    "these", "its", "his", "her", "all", "of", "and", "too",
])
_PRONOUNS = frozenset(["them", "it", "those", "these", "one", "ones", "already", "up"])
_HEDGE_RE = re.compile(
    r"\b(?:maybe|might|may\s+(?:need|have|be|want)|possibly|not\s+sure\s+(?:if|whether)|if\s+needed"
    r"|could\s+need|perhaps|might\s+need)\b"
)
_HEDGE_REACH = 60


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Match:
    """One job kind found in the description."""

    kind: JobKind
    start: int
    end: int
    sentence: Span
    clause: Span
    supplied: bool = False
    hedged: bool = False


def _spans(text: str, splitter: re.Pattern[str], start: int, end: int) -> list[Span]:
    spans: list[Span] = []
    pos = start
    for m in splitter.finditer(text, start, end):
        if m.start() > pos:
            spans.append(Span(pos, m.start()))
        pos = max(pos, m.end())
    if pos < end:
        spans.append(Span(pos, end))
    return spans or [Span(start, end)]


def sentences(text: str) -> list[Span]:
    return _spans(text, _SENTENCE_RE, 0, len(text))


def clauses(text: str, sentence: Span) -> list[Span]:
    return _spans(text, _CLAUSE_RE, sentence.start, sentence.end)


def _containing(spans: list[Span], pos: int) -> Span:
    for span in spans:
        if span.start <= pos < span.end:
            return span
    return spans[-1] if spans else Span(0, 0)


@lru_cache(maxsize=1)
def _kinds() -> tuple[JobKind, ...]:
    return all_kinds()


def find_matches(text: str, trade: str) -> list[Match]:
    """All job kinds the text asks for, in text order, after suppression rules."""
    sents = sentences(text)
    claimed = bytearray(len(text))  # 1 where a job kind already explained the character
    clause_cache: dict[int, list[Span]] = {}
    found: list[Match] = []
    seen: set[tuple[str, int]] = set()
    for job_kind in _kinds():
        if job_kind.trades is not None and trade not in job_kind.trades:
            continue
        if job_kind.text_context is not None and not job_kind.text_context.search(text):
            continue
        for pattern in job_kind.triggers:
            for m in pattern.finditer(text):
                start, end = m.start(), m.end()
                if end <= start or any(claimed[start:end]):
                    continue
                sentence = _containing(sents, start)
                body = text[sentence.start:sentence.end]
                if job_kind.context is not None and not job_kind.context.search(body):
                    continue
                if job_kind.exclude is not None and job_kind.exclude.search(body):
                    continue
                claimed[start:end] = b"\x01" * (end - start)
                if (job_kind.key, sentence.start) in seen:
                    continue
                seen.add((job_kind.key, sentence.start))
                if sentence.start not in clause_cache:
                    clause_cache[sentence.start] = clauses(text, sentence)
                clause = _containing(clause_cache[sentence.start], start)
                found.append(Match(job_kind, start, end, sentence, clause))
    found.sort(key=lambda match: match.start)
    return _mark_hedged(text, _mark_supplied(text, _suppress(found)))


def _suppress(found: list[Match]) -> list[Match]:
    present = {m.kind.key for m in found}
    return [m for m in found if not any(key in present for key in m.kind.suppressed_by)]


def _supplied_object_matches(match: Match, words: list[str]) -> bool:
    vocab = " ".join(
        [match.kind.noun_label.lower()]
        + [spec.name.lower() for spec in match.kind.lines if spec.material]
    )
    if any(len(word) >= 3 and word in vocab for word in words):
        return True
    if match.kind.noun:
        return any(re.fullmatch(rf"(?:{match.kind.noun})", word) for word in words)
    return False


def _mark_supplied(text: str, found: list[Match]) -> list[Match]:
    result = list(found)
    for phrase in _SUPPLIED_RE.finditer(text):
        in_sentence = [
            i for i, m in enumerate(result)
            if m.sentence.start <= phrase.start() < m.sentence.end
            and any(spec.material for spec in m.kind.lines)
        ]
        if not in_sentence:
            continue
        if _LABOUR_ONLY_RE.match(text, phrase.start()):
            targets = in_sentence
        else:
            tail = re.split(r"[,.;]", text[phrase.end():phrase.end() + 40])[0]
            words = [w for w in re.findall(r"[a-z][a-z-]*", tail) if w not in _OBJECT_STOP]
            targets = [i for i in in_sentence if _supplied_object_matches(result[i], words[:3])]
            pronoun = not words or bool(set(re.findall(r"[a-z]+", tail)[:2]) & _PRONOUNS)
            if not targets and pronoun:
                before = [i for i in in_sentence if result[i].start < phrase.start()]
                targets = [before[-1]] if before else in_sentence[:1]
        for i in targets:
            m = result[i]
            result[i] = Match(m.kind, m.start, m.end, m.sentence, m.clause, True, m.hedged)
    return result


def _mark_hedged(text: str, found: list[Match]) -> list[Match]:
    result = list(found)
    for hedge in _HEDGE_RE.finditer(text):
        for i, m in enumerate(result):
            if hedge.end() <= m.start <= hedge.end() + _HEDGE_REACH and m.sentence.start <= hedge.start():
                result[i] = Match(m.kind, m.start, m.end, m.sentence, m.clause, m.supplied, True)
                break
    return result
