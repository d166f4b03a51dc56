"""The clock rules on their own: which interval counts, when a clock stops, and holds read
from the read Task's versions in any order."""

from __future__ import annotations

from services.sla.clocks import Term, clock_ends, default_clock, pauses, term_for
from services.sla.tests.builders import at


def test_stat_and_stroke_count_images_to_preliminary_by_default_others_order_to_final() -> None:
    assert default_clock("stat", False) == "images-to-preliminary"
    assert default_clock("routine", True) == "images-to-preliminary"
    assert default_clock("urgent", False) == "ordered-to-final"


def test_a_stroke_takes_the_stroke_term_when_the_contract_has_one_else_its_priority() -> None:
    terms = {"stroke": Term(20), "stat": Term(60, "ordered-to-final")}
    assert term_for("stat", True, terms) == Term(20)
    assert term_for("stat", False, terms) == Term(60, "ordered-to-final")
    assert term_for("stat", True, {"stat": Term(60)}) == Term(60)
    assert term_for("routine", False, terms) is None


def test_a_preliminary_clock_stops_at_a_final_that_came_without_a_preliminary() -> None:
    milestones = {"images-available": at(5), "final": at(50)}
    assert clock_ends("images-to-preliminary", milestones) == (at(5), at(50))
    assert clock_ends("images-to-preliminary", {**milestones, "preliminary": at(20)}) == (
        at(5),
        at(20),
    )
    assert clock_ends("ordered-to-final", {"ordered": at(0)}) == (at(0), None)


def test_holds_come_from_versions_in_time_order_whatever_order_they_arrive() -> None:
    versions = [
        (at(40), "Task/t/_history/4", "in-progress"),
        (at(20), "Task/t/_history/3", "on-hold"),
        (at(10), "Task/t/_history/2", "accepted"),
        (at(20), "Task/t/_history/3", "on-hold"),  # redelivered
        (at(60), "Task/t/_history/5", "on-hold"),
        (at(70), "Task/t/_history/6", "on-hold"),  # still on hold: the same pause
    ]
    found = pauses(versions)
    assert [(p.started_by, p.start, p.end) for p in found] == [
        ("Task/t/_history/3", at(20), at(40)),
        ("Task/t/_history/5", at(60), None),
    ]
    assert found[0].minutes_within(at(30), at(100)) == 10
    assert found[1].minutes_within(at(0), at(90)) == 30
