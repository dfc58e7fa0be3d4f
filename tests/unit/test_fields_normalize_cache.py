"""normalize remembers its answers for scalars, and they are exactly the uncached ones."""

from __future__ import annotations

import math

from lmsctl import fields
from lmsctl.fields import Resource


def test_cached_answers_equal_the_computed_ones_and_signed_zeros_stay_apart() -> None:
    cases = [
        ("grade_points", 9.125, "schoology", Resource.GRADE),
        ("grade_points", 7, "google_classroom", Resource.GRADE),
        ("points_possible", 0, "google_classroom", None),
        ("grade", 9, "", Resource.GRADE),
        ("due_date", "2027-05-01T23:59:59.000Z", "", None),
        ("max_attempts", "3", "", None),
    ]
    for name, value, lms, resource in cases:
        first = fields.normalize(name, value, lms, resource)
        again = fields.normalize(name, value, lms, resource)
        assert again == first == fields._normalize(name, value, lms, resource)
        assert type(again) is type(first)
    plus = fields.normalize("grade_points", 0.0, "", Resource.GRADE)
    minus = fields.normalize("grade_points", -0.0, "", Resource.GRADE)
    assert math.copysign(1, plus) == 1 and math.copysign(1, minus) == -1
    assert fields.normalize("grade_points", True, "", Resource.GRADE) is True  # not 1
