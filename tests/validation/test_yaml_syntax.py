"""YAML syntax errors, said in the user's words, where the fix goes (one case per kind)."""

import pytest

from actors_wf._validation._source import parse

CASES = [
    # (text, line, column, words in the message, words in the fix)
    ("id: x\n\tsteps: []\n", 2, 1, "indented with a tab", "spaces"),
    ("id: 'x\nsteps: []\n", 1, 7, "' opened on line 1, column 5 is never closed", "closing '"),
    ('id: "a\\q"\n', 1, 7, "\\q is not an escape", "single quotes"),
    (
        "id: x\ninputs: {a: 1\nsteps: []\n",
        2,
        14,
        "{ opened on line 2",
        "add } at the end of line 2",
    ),
    ("id: x\ninputs: {a: 1 b: 2}\n", 2, 16, "needs a , or } here", "add , between"),
    ("id: x\ninputs: [1, 2\nsteps: []\n", 2, 14, "[ opened on line 2", "add ] at the end"),
    (
        "id: x\nsteps:\n  - id: a\n    component b\n    x: 1\n",
        4,
        14,
        "no colon",
        "component: value",
    ),
    ("id: x\nsteps:\n  - id: a\n    component: b: c\n", 4, 17, "holds ': '", "quote the whole"),
    ("id:x\nsteps: []\n", 1, 3, "no space after the colon", "space after"),
    ("id: x\nsteps:\n  - id: a\n    c: b\n      d: e\n", 5, 7, "indented deeper", "by 4 spaces"),
    ("id: x\nsteps:\n  - id: a\n    c: b\n  d: e\n", 5, 3, "indented 2 spaces", "by 4 spaces"),
    ("id: x\ninputs: {a: 1}}\n", 2, 15, "closes nothing", "remove it"),
    ("id: x\nsteps: *nope\n", 2, 8, "*nope refers to an anchor &nope", "define &nope"),
    ("id: x\n---\nid: y\n", 2, 1, "second YAML document", "one workflow per file"),
    ("id: @x\n", 1, 5, "cannot start with '@'", "quotes"),
    ("id: x\n # comment\n  bad: 1\n", 3, 3, "indented 2 spaces", "by 0 spaces"),
]


@pytest.mark.parametrize(("text", "line", "column", "said", "fix"), CASES)
def test_each_kind_of_mistake_is_said_plainly_where_the_fix_goes(text, line, column, said, fix):
    (problem,) = parse(text, "<text>").problems
    assert problem.code == "WF001"
    assert (problem.line, problem.column) == (line, column), problem
    assert said in problem.message
    assert fix in problem.hint
    assert "while parsing" not in problem.message or not said  # PyYAML's words only as a fallback
