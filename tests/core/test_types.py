from typing import Any, Optional

import pytest

from actors_wf._core._types import TypeExpr, parse_type, type_name_of


@pytest.mark.parametrize(
    "name",
    [
        "int",
        "float",
        "str",
        "bool",
        "bytes",
        "any",
        "list",
        "dict",
        "list[int]",
        "dict[str, float]",
        "int | None",
        "list[dict[str, list[str]]]",
        "dict[str, int | None] | None",
    ],
)
def test_type_names_parse_and_print_back(name):
    assert str(parse_type(name)) == name


@pytest.mark.parametrize(
    "name", ["integer", "list[int", "dict[int, str]", "int | str", "tuple[int]", ""]
)
def test_unknown_type_names_list_the_allowed_ones(name):
    with pytest.raises(ValueError, match="use one of: int, float"):
        parse_type(name)


@pytest.mark.parametrize(
    ("name", "value", "fits"),
    [
        ("int", 3, True),
        ("int", 3.7, False),
        ("int", True, False),
        ("float", 3, True),
        ("float", 1.5, True),
        ("bool", True, True),
        ("bool", "no", False),
        ("str", "x", True),
        ("bytes", b"x", True),
        ("any", object(), True),
        ("int", None, False),
        ("int | None", None, True),
        ("any", None, True),
        ("list", [1, "a"], True),
        ("list[int]", [1, 2], True),
        ("list[int]", [1, "a"], False),
        ("list", {}, False),
        ("dict", {"a": 1}, True),
        ("dict[str, int]", {"a": "b"}, False),
        ("dict", {1: 2}, False),
        ("dict", [], False),
        ("list[int]", (1, 2), True),
    ],
)
def test_values_are_checked_strictly(name, value, fits):
    assert (parse_type(name).problem(value) is None) is fits


def test_problem_names_the_place_expected_and_got():
    assert parse_type("list[int]").problem([1, "a"], "x") == "x[1]: expected int, got str 'a'"
    assert (
        parse_type("dict[str, int]").problem({"k": 1.5}, "x")
        == "x['k']: expected int, got float 1.5"
    )


@pytest.mark.parametrize(
    ("consumer", "producer", "ok"),
    [
        ("float", "int", True),
        ("int", "float", False),
        ("any", "str", True),
        ("str", "any", True),
        ("int", "int | None", False),
        ("int | None", "int", True),
        ("list[float]", "list[int]", True),
        ("list[int]", "list[str]", False),
        ("list", "list[str]", True),
        ("dict", "list", False),
    ],
)
def test_accepts_tells_whether_a_type_can_feed_another(consumer, producer, ok):
    assert parse_type(consumer).accepts(parse_type(producer)) is ok


@pytest.mark.parametrize(
    ("annotation", "name"),
    [
        (int, "int"),
        (float, "float"),
        (str, "str"),
        (bool, "bool"),
        (bytes, "bytes"),
        (None, "any"),
        (Any, "any"),
        (list, "list"),
        (dict, "dict"),
        (tuple, "list"),
        (list[int], "list[int]"),
        (dict[str, float], "dict[str, float]"),
        (Optional[int], "int | None"),
        (int | None, "int | None"),
        (dict[int, str], "any"),
        (set, "any"),
        ("int", "int"),
        ("Widget", "any"),
        (Optional[Any], "any"),
    ],
)
def test_annotations_translate_to_type_names(annotation, name):
    assert type_name_of(annotation) == name


def test_type_expr_is_a_value():
    assert parse_type("list[int]") == TypeExpr("list", TypeExpr("int"))
