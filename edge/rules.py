"""The rule sets live in the shared contract package (contract/rules.py);
this name stays for the station program's imports."""
from contract.rules import (  # noqa: F401 (re-exported)
    CATEGORIES,
    RULES_DIR,
    RuleSet,
    RuleSetError,
    known_rule_sets,
    load_rules,
    rule_set,
)
