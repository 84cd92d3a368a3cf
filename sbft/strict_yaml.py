"""Safe YAML that refuses what plain YAML lets through silently or at great cost.

A key given twice (YAML keeps the last without a word), a tag such as !!python/... (never built),
and aliases that refer to themselves or expand beyond MAX_VALUES (an "alias bomb": 562 bytes
that grow to a billion values) are errors, found on the parsed nodes before any value is built.
Floats written as 3e-5 are numbers (YAML 1.1 reads them as strings).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_VALUES = 100_000
"""More values than any recipe holds."""


class StrictYamlError(yaml.YAMLError):
    """A problem found while reading the YAML, where it is, and the fix that fits it."""

    def __init__(self, problem: str, mark: yaml.Mark, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark, self.fix = problem, mark, fix


class _StrictLoader(yaml.SafeLoader):
    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        _check_duplicate_keys(node)
        return node

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _expanded_size(node, {}, set())
        return node


def _refuse_tag(loader: _StrictLoader, node: yaml.Node) -> None:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise StrictYamlError(
        f"the tag '{tag}' is not allowed",
        node.start_mark,
        fix="A recipe holds plain values (text, numbers, lists, mappings); remove the tag "
        "(tags such as !!python/... would build objects or run code, which sbft never does).",
    )


_StrictLoader.add_constructor(None, _refuse_tag)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?\.?\d*[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """Plain data from YAML text; raises StrictYamlError (or yaml.YAMLError for bad syntax)."""
    return yaml.load(text, Loader=_StrictLoader)  # safe: a SafeLoader subclass, no objects built


def _check_duplicate_keys(node: yaml.MappingNode) -> None:
    first_seen: dict[tuple[str, str], yaml.Mark] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        first = first_seen.setdefault((key.tag, key.value), key.start_mark)
        if first is not key.start_mark:
            raise StrictYamlError(
                f"the key '{key.value}' is given twice, "
                f"on lines {first.line + 1} and {key.start_mark.line + 1}",
                key.start_mark,
                fix="Keep one of them (YAML would silently keep the last); two datasets need two names.",
            )


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values `node` becomes once every alias is copied out.

    Each node is counted once (aliases share their node), so this takes time in the size of
    the text, not of the expansion.
    """
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise StrictYamlError(
            "an alias refers to the value that contains it",
            node.start_mark,
            fix="An alias may only repeat a value defined before it and outside it.",
        )
    size = 1
    if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
        open_nodes.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        for child in children:
            size += _expanded_size(child, sizes, open_nodes)
            if size > MAX_VALUES:
                raise StrictYamlError(
                    f"the aliases here expand to more than {MAX_VALUES:,} values",
                    node.start_mark,
                    fix="A recipe needs a few hundred values at most; write the repeated values out, "
                    "or repeat fewer of them.",
                )
        open_nodes.discard(id(node))
    sizes[id(node)] = size
    return size
