"""The when: language: a truth table against Python's own operators, and what it refuses."""

import json
import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors_wf._core._conditions import ConditionError, check_types, evaluate, parse_condition
from actors_wf._core._plan import Ref
from actors_wf._core._types import parse_type

ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
EQUAL = {"==": operator.eq, "!=": operator.ne}


def _operand(value, inputs):
    """A literal, or half the time a reference to an input holding the value."""
    if len(inputs) % 2:
        name = f"v{len(inputs)}"
        inputs[name] = value
        return f"$inputs.{name}"
    inputs[f"_{len(inputs)}"] = None  # keeps the alternation going
    return json.dumps(value)


@st.composite
def comparisons(draw, inputs):
    kind = draw(st.sampled_from(["int", "str"]))
    values = st.integers(-3, 3) if kind == "int" else st.sampled_from(["a", "b", "ab"])
    left, right = draw(values), draw(values)
    op = draw(st.sampled_from([*ORDER, *EQUAL]))
    text = f"{_operand(left, inputs)} {op} {_operand(right, inputs)}"
    return text, {**ORDER, **EQUAL}[op](left, right)


@st.composite
def memberships(draw, inputs):
    item = draw(st.integers(0, 4))
    options = draw(st.lists(st.integers(0, 4), max_size=4))
    negated = draw(st.booleans())
    op = "not in" if negated else "in"
    text = f"{_operand(item, inputs)} {op} {json.dumps(options)}"
    return text, (item not in options) if negated else (item in options)


def expressions(inputs):
    leaves = st.one_of(
        comparisons(inputs),
        memberships(inputs),
        st.booleans().map(lambda b: (json.dumps(b), b)),
    )

    def combine(children):
        pairs = st.tuples(children, children)
        return st.one_of(
            children.map(lambda c: (f"not ({c[0]})", not c[1])),
            pairs.map(lambda p: (f"({p[0][0]}) and ({p[1][0]})", p[0][1] and p[1][1])),
            pairs.map(lambda p: (f"({p[0][0]}) or ({p[1][0]})", p[0][1] or p[1][1])),
        )

    return st.recursive(leaves, combine, max_leaves=8)


@given(st.data())
def test_every_condition_means_what_python_means(data):
    inputs: dict[str, object] = {}
    text, expected = data.draw(expressions(inputs))
    node = parse_condition(text)
    assert evaluate(node, lambda ref: inputs[ref.name]) is expected, text
    types = {
        f"$inputs.{k}": parse_type(type(v).__name__) for k, v in inputs.items() if v is not None
    }
    assert check_types(node, lambda ref: types[str(ref)]) == [], text


@pytest.mark.parametrize(
    ("text", "values", "says"),
    [
        ("$inputs.a and true", {"a": 1}, "and takes true or false, got a number 1"),
        (
            "$inputs.a < 2",
            {"a": "1"},
            "compares two numbers or two texts, got a text and a number",
        ),
        ("$inputs.a", {"a": 3}, "the condition gave a number 3, not true or false"),
        ("1 in $inputs.a", {"a": 5}, "in needs a list, text or mapping on its right"),
        ("1 in $inputs.a", {"a": "15"}, "in a text needs a text on its left"),
    ],
)
def test_values_that_do_not_fit_their_operator_are_refused_not_guessed(text, values, says):
    with pytest.raises(ConditionError, match=says):
        evaluate(parse_condition(text), lambda ref: values[ref.name])


def test_one_and_true_are_not_equal_as_they_are_not_in_a_workflow():
    assert evaluate(parse_condition("1 == true"), lambda ref: None) is False
    assert evaluate(parse_condition("1 != true"), lambda ref: None) is True
    assert evaluate(parse_condition("1 == 1.0"), lambda ref: None) is True


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("x > 1", "'x' is not a reference, a literal or an operator"),
        ("$inputs.a >", "ends where a value was expected"),
        ("($inputs.a", "never closed"),
        ("$inputs.a == 1 1", "unexpected 1 at column 16"),
        ("len($inputs.a) > 1", "'len' is not a reference"),
        ("$inputs.a.__class__ == 1", None),  # a field name, read from data: no attribute access
        ("1 + 1 == 2", "'\\+ 1 == 2' cannot start a part of a condition"),
    ],
)
def test_what_does_not_parse_says_where(text, says):
    if says is None:
        node = parse_condition(text)
        assert next(node.refs()) == Ref("inputs", "a", ("__class__",))
        with pytest.raises(LookupError):
            from actors_wf._core._plan import lookup

            evaluate(node, lambda ref: lookup(ref, {"a": object()}, {}))
        return
    with pytest.raises(ConditionError, match=says):
        parse_condition(text)
