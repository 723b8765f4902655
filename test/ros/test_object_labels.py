"""The object_labels parameter (deeprm_ros/ros/parameters.py): its one parser against its validator, by
hypothesis and by hand."""
from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deeprm_ros.ros.parameters import parse_object_labels

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class_names = st.text(string.ascii_letters + string.digits + "_-. /:", min_size=1, max_size=12).filter(
    lambda s: s == s.strip() and not s.isdigit())


@PROPS
@given(st.dictionaries(class_names, st.integers(0, 10**6), max_size=8), st.randoms(use_true_random=False))
def test_parse_object_labels(pairs, rnd):
    """Every 'class_id:obj_id' entry, padded or not, in any order; the class_id is all before the last ':'."""
    items = [f"{name}:{oid}" for name, oid in pairs.items()]
    rnd.shuffle(items)
    padded = [rnd.choice(["", " ", "\t"]) + it + rnd.choice(["", " ", "\n"]) for it in items]
    assert parse_object_labels(padded) == dict(pairs)


@PROPS
@given(class_names, st.text(string.ascii_letters + "._", min_size=1, max_size=6))
def test_parse_object_labels_rejects_non_integer_ids(name, oid):
    with pytest.raises(ValueError, match="is not 'class_id:obj_id'") as e:
        parse_object_labels(["ok:1", f"{name}:{oid}"])
    assert f"'{name}:{oid}'" in str(e.value)


def test_parse_object_labels_refuses_bare_numbers_blanks_and_repeats():
    for items, message in ((["4"], "is not 'class_id:obj_id'"), (["mug:1", ""], "is not 'class_id:obj_id'"),
                           (["mug:1", " mug:2"], "appears twice"), (["mug:-1"], ">= 0")):
        with pytest.raises(ValueError, match=message):
            parse_object_labels(items)


labelled = st.builds("{}:{}".format,
                     st.one_of(class_names, st.text(" \tab:", max_size=3)),  # names, also padded or empty
                     st.one_of(st.integers(-3, 99).map(str), st.text("0123456789-+ _\u00b2\u00b9\u0663", max_size=3)))


@PROPS
@given(st.lists(st.one_of(labelled, labelled, st.text(max_size=6)), max_size=4))
@example(["mug:\u00b2"]).via("a digit int() cannot read")
@example(["mug:--3"]).via("two minus signs")
@example([" mug:1", "mug:2"]).via("the same class once padded")
def test_object_labels_the_validator_accepts_parse_one_to_one(items):
    """What the object_labels parameter check accepts, parse_object_labels reads without error, one class per
    entry, obj_ids >= 0; what it refuses it refuses naming the parameter (never a bare exception)."""
    from deeprm_ros.ros.parameters import validate_value

    try:
        validate_value("object_labels", items)
    except ValueError as e:
        assert str(e).startswith("parameter 'object_labels': "), str(e)
        return
    labels = parse_object_labels(items)
    assert len(labels) == len(items)
    assert all(isinstance(v, int) and v >= 0 for v in labels.values())
