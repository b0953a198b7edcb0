"""contract.rules: the Beijing rule set as data, and the checks a malformed file or a mismatched model meets."""
import json
import subprocess
import sys

import pytest

from contract.rules import CATEGORIES, RULES_DIR, RuleSetError, load_rules


@pytest.fixture(scope="module")
def beijing():
    return load_rules("beijing")


def test_name_version_and_tag(beijing):
    assert beijing.name == "beijing"
    assert beijing.tag == f"beijing@{beijing.version}" == "beijing@2020.2"


def test_every_item_has_a_known_category_and_chinese_names(beijing):
    assert beijing.items == sorted(beijing.items) and len(beijing.items) >= 10
    for item in beijing.items:
        assert beijing.category(item) in CATEGORIES
        assert beijing.item_name(item, "zh") != item
        assert beijing.category(item) in beijing.accepted_bins(item)
    assert {beijing.category(i) for i in beijing.items} == set(CATEGORIES)


def test_category_names_in_chinese(beijing):
    assert [beijing.category_name(c) for c in CATEGORIES] == ["厨余垃圾", "可回收物", "有害垃圾", "其他垃圾"]
    assert beijing.category_name("hazardous", "en") == "hazardous waste"
    assert beijing.bin_colour("hazardous") == "red"


def test_the_battery_case(beijing):
    # an ordinary (alkaline) battery belongs in hazardous; other is also accepted
    assert beijing.category("battery") == "hazardous"
    assert beijing.accepted_bins("battery") == ["hazardous", "other"]
    assert beijing.accepts("battery", "other") and beijing.accepts("battery", "hazardous")
    assert not beijing.accepts("battery", "recyclable")
    assert beijing.item_name("battery") == "电池"
    # rechargeable and lithium batteries must go to hazardous
    for item in ("battery_rechargeable", "battery_lithium"):
        assert beijing.accepted_bins(item) == ["hazardous"]
        assert not beijing.accepts(item, "other")


def test_common_items(beijing):
    assert beijing.accepts("food_waste", "kitchen") and not beijing.accepts("food_waste", "other")
    assert beijing.accepts("glass", "recyclable") and not beijing.accepts("glass", "other")
    assert beijing.category("residual") == "other"


def test_unknown_item_and_bin_are_clear_errors(beijing):
    with pytest.raises(RuleSetError, match="no item 'sofa'"):
        beijing.category("sofa")
    with pytest.raises(RuleSetError, match="unknown bin"):
        beijing.accepts("glass", "purple")


def test_check_items_against_model_labels(beijing):
    beijing.check_items(list(reversed(beijing.items)))  # order does not matter
    with pytest.raises(RuleSetError, match=r"without a rule in beijing@2020.2: \['sofa'\]"):
        beijing.check_items(beijing.items + ["sofa"])
    # a model may know fewer items than its rule set (the default model: 12 of 22)
    beijing.check_items([i for i in beijing.items if i != "wood"])


def test_the_grown_rule_set_keeps_every_item_of_the_last_and_the_last_stays_known():
    """beijing@2020.2 adds items named by Beijing's guide; beijing@2020.1 stays known (events and
    published artifacts carry its tag) and every one of its items keeps its rule."""
    from contract.rules import known_rule_sets, rule_set
    old, new = rule_set("beijing@2020.1"), rule_set("beijing@2020.2")
    assert {"beijing@2020.1", "beijing@2020.2"} <= set(known_rule_sets())
    assert rule_set("beijing").tag == "beijing@2020.2" == load_rules("beijing").tag
    assert len(old.items) == 12 and len(new.items) == 22
    for item in old.items:
        assert old.item_rules[item] == new.item_rules[item]
    assert {new.category(i) for i in ("face_mask", "diaper", "tissue", "band_aid", "lighter", "pen",
                                      "ceramic", "plastic_bag")} == {"other"}
    assert new.category("medicine") == "hazardous" and new.category("shoes") == "recyclable"
    assert all(new.item_name(i) != i for i in new.items)  # every item has its Chinese name


def test_load_by_path_and_missing_name(tmp_path):
    data = json.loads((RULES_DIR / "beijing.json").read_text(encoding="utf-8"))
    data["name"], data["version"] = "testcity", "1"
    path = tmp_path / "testcity.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_rules(path).tag == "testcity@1"
    assert load_rules(str(path)).tag == "testcity@1"
    with pytest.raises(RuleSetError, match="available: .*beijing"):
        load_rules("atlantis")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("version"), "missing key 'version'"),
    (lambda d: d["items"]["glass"].update(category="blue"), "items.glass.category 'blue'"),
    (lambda d: d["items"]["battery"].update(also_accepted=["street"]), "also_accepted: 'street'"),
    (lambda d: d["categories"].update(dry={"zh": "干垃圾"}), "categories \\['dry'\\]"),
])
def test_malformed_files_name_the_key(tmp_path, mutate, message):
    data = json.loads((RULES_DIR / "beijing.json").read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RuleSetError, match=message):
        load_rules(path)


def test_invalid_json_gives_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "version": }', encoding="utf-8")
    with pytest.raises(RuleSetError, match="line 2"):
        load_rules(path)


def test_rules_module_is_pure():
    code = "import sys, contract.rules; print('onnxruntime' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
