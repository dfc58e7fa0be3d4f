import pytest

from lmsctl.addresses import Address, matches_targets, parse_address
from lmsctl.errors import UsageError

SEC = "5f1a0c0b8e1d2a0001a00001"


def test_parse_assignment_and_grade_addresses() -> None:
    assert parse_address(f"{SEC}/hw-01") == Address(SEC, "hw-01")
    grade = parse_address(f"{SEC}/hw-01/grades/5f1a0c0b8e1d2a0001b00007")
    assert grade.student == "5f1a0c0b8e1d2a0001b00007"
    assert str(grade) == f"{SEC}/hw-01/grades/5f1a0c0b8e1d2a0001b00007"


@pytest.mark.parametrize("bad", ["hw-01", f"{SEC}/HW", "abc/hw-01", f"{SEC}/hw/x/y"])
def test_malformed_addresses_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_address(bad)


def test_targets_select_assignment_and_its_grades() -> None:
    targets = [parse_address(f"{SEC}/hw-01")]
    assert matches_targets(f"{SEC}/hw-01", targets)
    assert matches_targets(f"{SEC}/hw-01/grades/5f1a0c0b8e1d2a0001b00007", targets)
    assert not matches_targets(f"{SEC}/hw-02", targets)
    assert matches_targets(f"{SEC}/hw-02", [])


def test_a_grade_address_with_a_roster_reference_is_refused() -> None:
    with pytest.raises(UsageError, match="'sis:603' is not a 24-hex student id"):
        parse_address("5f1a0c0b8e1d2a0001a00001/hw-01/grades/sis:603")
