"""Edits of YAML text at the spans PyYAML's composer reports, leaving every other byte alone."""

from __future__ import annotations

import yaml


def last_node(node: yaml.Node) -> yaml.Node:
    """The node that ends a block collection (its deepest last value)."""
    while isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style:
        if not node.value:
            break
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def after_line(text: str, index: int) -> int:
    """The index just after the end of the line holding ``index`` (its newline included)."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def end_of_block(text: str, node: yaml.Node) -> int:
    """Where lines added after a block collection go: after its last line."""
    last = last_node(node)
    end = last.end_mark.index
    return end if last.end_mark.column == 0 else after_line(text, end)


def compose(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


__all__ = ["after_line", "compose", "end_of_block", "last_node"]
