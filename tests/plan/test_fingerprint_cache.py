"""Remembered fingerprints and reason phrases are exactly the computed ones."""

from __future__ import annotations

from lmsctl.diff import normalize
from lmsctl.plan.fingerprints import field_fingerprint, fingerprint
from lmsctl.plan.model import Reason
from lmsctl.plan.words import REASON_WORDS, _enum_values, reason_words


def test_field_fingerprints_match_their_computed_digest() -> None:
    lives = [
        {"grade_points": 9, "state": "returned"},
        {"grade_points": 9.0, "state": "returned"},
        {"grade_points": 0.0},
        {"grade_points": -0.0},
        {"grade_points": True},
        {"grade_points": None, "flags": ["late"]},
        {"grade": "A", "grade_comment": "ok"},
    ]
    for live in lives:
        names = sorted(live)
        want = fingerprint({f: normalize(f, live.get(f)) for f in names})
        assert field_fingerprint(live, names) == want
        assert field_fingerprint(live, names) == want  # the remembered answer
    assert field_fingerprint({"grade_points": 1}, ["grade_points"]) != field_fingerprint(
        {"grade_points": True}, ["grade_points"]
    )


def test_reason_words_remembered_and_computed_agree() -> None:
    for codes in [(Reason.GRADE,), (Reason.GRADE, Reason.FORCED), ("grade", "newer-reason")]:
        want = "; ".join(REASON_WORDS[r] for r in _enum_values(codes, Reason))
        assert reason_words(codes) == reason_words(list(codes)) == want
    assert reason_words([["unhashable"], "grade"]) == reason_words(["grade"])
