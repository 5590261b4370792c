"""Reading a label from a judge's text (no log-probabilities), and refusing to read one when the text is ambiguous.

The templates ask for the label alone ("Reply with only ... and nothing else"), so the answer is read
where it was asked for: at the start of the reply, after an optional cue ("Answer:", "Response").
Elsewhere in the text a label counts only when it is the one label mentioned and nothing negates it.
Letter labels are case-sensitive (the article "a" is not the label "A"); anything ambiguous is None.
"""

from __future__ import annotations

import pytest

from jurist.protocols.base import parse_label

AB, ABT, SCALE, YESNO = ["A", "B"], ["A", "B", "tie"], ["1", "2", "3", "4", "5"], ["yes", "no"]


@pytest.mark.parametrize("text,labels,expected", [
    # the defects of issue 17, item 7: each of these read as the first label anywhere, ignoring case
    ("After a careful comparison, Response B is better.", AB, "B"),
    ("Neither; I'd need a source.", AB, None),
    ("it is a tie between them", ABT, "tie"),
    ("a scale of 1-5", SCALE, None),
    # the answer where the template asks for it
    ("A", AB, "A"), ("B.", AB, "B"), ("**B**", AB, "B"), ("[[A]]", AB, "A"), (" B\n", AB, "B"),
    ("Answer: B", AB, "B"), ("The better response is A.", AB, "A"), ("Response B", AB, "B"),
    ("Tie", ABT, "tie"), ("Score: 4", SCALE, "4"), ("4/5", SCALE, "4"), ("3 out of 5", SCALE, "3"),
    ("Yes", YESNO, "yes"), ("No, the response is wrong.", YESNO, "no"), ("yes.", YESNO, "yes"),
    ("B, because A is not correct", AB, "B"),
    # the English article and pronoun are not letter labels
    ("A careful comparison shows that B is better.", AB, "B"),
    ("a", AB, None), ("b is better", AB, None),
    ("I think C is best", ["A", "B", "C", "D", "E", "F", "G", "H", "I"], "C"),
    # ambiguous: several labels, or a negation the parser cannot read safely
    ("A or B", AB, None), ("A and B are equal", AB, None), ("A is not as good as B", AB, None),
    ("A is worse than B", AB, None),
    ("I'd give it 4-5", SCALE, None), ("3.5", SCALE, None), ("between 2 and 4", SCALE, None),
    ("There is no error in the response", YESNO, None), ("It does not pass.", ["pass", "fail"], None),
    ("It is not a tie", ABT, None),
    # no label at all
    ("", AB, None), ("BAD", AB, None), ("I cannot grade this.", SCALE, None), ("10", SCALE, None),
])
def test_parse_label(text, labels, expected):
    assert parse_label(text, labels).label == expected


def test_ambiguity_is_reported_with_its_reason():
    parsed = parse_label("A is not as good as B", AB)
    assert parsed.label is None and "A" in parsed.why and "B" in parsed.why
    assert "no label" in parse_label("I cannot grade this.", SCALE).why
