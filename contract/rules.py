"""Sorting rule sets as data: which category each item belongs to, which bins accept it.

A rule set is one JSON file per city and version: ``models/rules/<name>.json`` is
the newest, earlier versions stay beside it as ``<name>-<version>.json`` (events
and published artifacts carry their tags). A new city or a revised regulation is
a new file, not new code. Pure Python:
no onnxruntime, no OpenCV.

The station program loads its configured rule set with `load_rules` (a name,
or a file path from the operator's own config). The server judges by the tag
an event carries and looks it up with `rule_set`, which only knows the files
in ``models/rules/``: no value a client sends ever becomes a path.

>>> rules = load_rules("beijing")
>>> rules.tag
'beijing@2020.2'
>>> rules.category("battery"), rules.accepted_bins("battery")
('hazardous', ['hazardous', 'other'])
>>> rules.item_name("battery"), rules.category_name("hazardous")
('电池', '有害垃圾')
>>> rule_set("beijing@2020.2") is rule_set("beijing")
True
>>> sorted(set(rule_set("beijing").items) - set(rule_set("beijing@2020.1").items))[:3]
['band_aid', 'ceramic', 'diaper']
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .limits import CATEGORIES

RULES_DIR = Path(__file__).resolve().parents[1] / "models" / "rules"
DEFAULT_RULES = "beijing"


class RuleSetError(ValueError):
    """A rule-set file is malformed, or does not match the model's labels."""


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: str
    categories: dict = field(repr=False)
    item_rules: dict = field(repr=False)
    source: str = ""

    @property
    def tag(self) -> str:
        """``name@version``, recorded in every event (e.g. ``beijing@2020.2``)."""
        return f"{self.name}@{self.version}"

    @property
    def items(self) -> list[str]:
        return sorted(self.item_rules)

    def _rule(self, item: str) -> dict:
        try:
            return self.item_rules[item]
        except KeyError:
            raise RuleSetError(f"rule set {self.tag} has no item {item!r}") from None

    def category(self, item: str) -> str:
        """The category of `item`: one of kitchen, recyclable, hazardous, other."""
        return self._rule(item)["category"]

    def accepted_bins(self, item: str) -> list[str]:
        """The bins (categories) that accept `item`, its own category first."""
        rule = self._rule(item)
        return [rule["category"]] + [b for b in rule.get("also_accepted", []) if b != rule["category"]]

    def accepts(self, item: str, bin: str) -> bool:
        """True when putting `item` into a bin of category `bin` is correct."""
        if bin not in self.categories:
            raise RuleSetError(f"unknown bin category {bin!r}; expected one of {sorted(self.categories)}")
        return bin in self.accepted_bins(item)

    def item_name(self, item: str, lang: str = "zh") -> str:
        rule = self._rule(item)
        return rule.get(lang) or item

    def category_name(self, category: str, lang: str = "zh") -> str:
        try:
            cat = self.categories[category]
        except KeyError:
            raise RuleSetError(f"rule set {self.tag} has no category {category!r}") from None
        return cat.get(lang) or category

    def bin_colour(self, category: str, lang: str = "en") -> str:
        cat = self.categories[category]
        return cat.get("bin_colour_zh" if lang == "zh" else "bin_colour", "")

    def check_items(self, labels: Iterable[str]) -> None:
        """Raise RuleSetError unless every label of the model is an item of this rule set. A rule set may
        name items the model does not know (beijing@2020.2 names 22, the default model knows 12): labellers,
        inspectors and the quiz use them, and train-head can learn them."""
        missing = sorted(set(labels) - set(self.item_rules))
        if missing:
            raise RuleSetError(f"model labels without a rule in {self.tag}: {missing}")


def _validate(data: dict, source: str) -> RuleSet:
    def fail(msg: str):
        raise RuleSetError(f"{source}: {msg}")

    if not isinstance(data, dict):
        fail("top level must be a JSON object")
    for key in ("name", "version", "categories", "items"):
        if key not in data:
            fail(f"missing key {key!r}")
    categories = data["categories"]
    if not isinstance(categories, dict) or not categories:
        fail("'categories' must be a non-empty object")
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        fail(f"categories {unknown} are not among {list(CATEGORIES)}")
    items = data["items"]
    if not isinstance(items, dict) or not items:
        fail("'items' must be a non-empty object")
    for item, rule in items.items():
        if not isinstance(rule, dict):
            fail(f"items.{item} must be an object")
        if rule.get("category") not in categories:
            fail(f"items.{item}.category {rule.get('category')!r} is not a declared category")
        for b in rule.get("also_accepted", []):
            if b not in categories:
                fail(f"items.{item}.also_accepted: {b!r} is not a declared category")
    return RuleSet(name=str(data["name"]), version=str(data["version"]),
                   categories=categories, item_rules=items, source=source)


def load_rules(name_or_path: str | Path = "beijing") -> RuleSet:
    """Load a rule set by name (``models/rules/<name>.json``) or by file path."""
    text = str(name_or_path)
    if text.endswith(".json") or "/" in text or Path(text).is_file():
        path = Path(text)
    else:
        path = RULES_DIR / f"{text}.json"
    if not path.is_file():
        available = sorted(p.stem for p in RULES_DIR.glob("*.json"))
        raise RuleSetError(f"no rule set {text!r} (looked for {path}); available: {available}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RuleSetError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise RuleSetError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return _validate(data, str(path))


@lru_cache(maxsize=1)
def known_rule_sets() -> dict[str, RuleSet]:
    """Every rule set the project ships, by tag (``name@version``)."""
    sets = (load_rules(path) for path in sorted(RULES_DIR.glob("*.json")))
    return {rules.tag: rules for rules in sets}


def rule_set(tag_or_name: str) -> RuleSet:
    """A shipped rule set by its exact tag, or by its name alone (the newest
    version of that name). Raises RuleSetError for anything else; never reads
    a path it is given."""
    known = known_rule_sets()
    if tag_or_name in known:
        return known[tag_or_name]
    named = [r for r in known.values() if r.name == tag_or_name]
    if not named:
        raise RuleSetError(f"unknown rule set {tag_or_name!r}; known: {', '.join(sorted(known))}")
    return max(named, key=lambda r: r.version)


def rule_set_or_default(tag: str | None) -> RuleSet:
    """The rule set an event was judged under, or the default one when the tag
    is missing or unknown (events stored before tags were checked)."""
    try:
        return rule_set(tag) if isinstance(tag, str) else rule_set(DEFAULT_RULES)
    except RuleSetError:
        return rule_set(DEFAULT_RULES)
