"""The safe YAML loader: plain values, positions, and refusals."""

from __future__ import annotations

import pytest

from lmsctl.manifest.loader import MAX_ALIAS_BYTES, MAX_DEPTH, load_yaml_text
from lmsctl.manifest.textfile import LoadFailure


def test_values_and_positions() -> None:
    doc = load_yaml_text(
        "a:\n  due: 2027-01-15\n  n: 3\n  f: 1.5\n  b: true\n  z: ~\n  01: [x, 'y']\n", "f.yaml"
    )
    assert doc.data == {
        "a": {"due": "2027-01-15", "n": 3, "f": 1.5, "b": True, "z": None, "01": ["x", "y"]}
    }
    assert doc.pos(("a", "n")) == (3, 6)
    assert doc.key_pos(("a", "n")) == (3, 3)
    assert doc.pos(("a", "01", 1)) == (7, 11)
    # a missing path falls back to its nearest written ancestor
    assert doc.pos(("a", "nope", 3)) == (2, 3)


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    with pytest.raises(LoadFailure) as info:
        load_yaml_text("a:\n  b: 1\n  c: 2\n  b: 3\n", "f.yaml")
    (diag,) = info.value.diagnostics
    assert diag.format() == (
        "f.yaml:4:3: error: a: duplicate key 'b', first written at line 2 "
        "(keep only one of them; YAML would silently use the last)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system ['true']\n",
        "a: !!python/name:os.system\n",
        "a: !!binary aGVsbG8=\n",
        "a: !custom 3\n",
        "!!python/object:object {}\n",
        "a: !!set {x, y}\n",
    ],
)
def test_object_constructing_and_custom_tags_are_refused(text: str) -> None:
    with pytest.raises(LoadFailure) as info:
        load_yaml_text(text, "f.yaml")
    assert "is not allowed" in info.value.diagnostics[0].message


def test_aliases_are_shared_and_anchors_reusable() -> None:
    doc = load_yaml_text("base: &b {x: 1}\nuse: *b\nmerged: {<<: *b, y: 2}\n", "f.yaml")
    assert doc.data["use"] == {"x": 1}
    assert doc.data["merged"] == {"x": 1, "y": 2}


def test_nesting_is_bounded() -> None:
    ok = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    load_yaml_text(ok, "f.yaml")
    with pytest.raises(LoadFailure):
        load_yaml_text("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n", "f.yaml")


def test_undefined_alias() -> None:
    with pytest.raises(LoadFailure) as info:
        load_yaml_text("a: *nowhere\n", "f.yaml")
    assert info.value.diagnostics[0].line == 1


def _description_bomb(size: int, aliases: int) -> str:
    lines = [
        "section: 5f1a0c0b8e1d2a0001a00001",
        "assignments:",
        "  a0:",
        "    title: A",
        "    due_date: 2027-01-15",
        f"    description: &d {'x' * size}",
    ]
    for n in range(1, aliases + 1):
        lines += [f"  a{n}:", "    title: A", "    due_date: 2027-01-15", "    description: *d"]
    return "\n".join(lines) + "\n"


def test_aliases_bringing_in_too_much_text_are_refused_at_the_alias() -> None:
    # one 1 MiB anchored scalar and 299 aliases: few values, 300 MiB once expanded
    text = _description_bomb(1024 * 1024, 299)
    with pytest.raises(LoadFailure) as info:
        load_yaml_text(text, "s.yaml")
    (diag,) = info.value.diagnostics
    # the second alias crosses the limit: it is the one named, where it is written
    assert (diag.line, diag.col) == (14, 18)
    assert diag.rule == "alias-limit"
    assert diag.message.startswith(f"alias *d expands the file by more than {MAX_ALIAS_BYTES}")


def test_aliases_count_the_text_of_keys_and_nested_values() -> None:
    chunk = "y" * (MAX_ALIAS_BYTES // 4)
    # an explicit (long) key, a list item and a nested mapping's value: 3/4 MiB in all
    text = f"base: &b\n  ? k{chunk}\n  : [{chunk}, {{z: {chunk}}}]\nu1: *b\nu2: *b\n"
    with pytest.raises(LoadFailure) as info:
        load_yaml_text(text, "f.yaml")
    assert info.value.diagnostics[0].line == 5  # u1 adds 3/4 MiB; u2 crosses 1 MiB


def test_aliases_reusing_ordinary_text_stay_allowed() -> None:
    # a 2 KB shared description reused by 200 assignments is 400 KB of expanded text
    doc = load_yaml_text(_description_bomb(2000, 200), "s.yaml")
    assert doc.data["assignments"]["a200"]["description"] == "x" * 2000
