"""The baselines the simulated day compares with: different choices, the same hard
constraints."""

from __future__ import annotations

import pytest

from services.assignment.engine.model import Licence
from services.assignment.engine.policies import make_policy
from services.assignment.tests.engine.factory import NOW, engine, exam, reader, work


def _picks(policy: str, orders: int = 3) -> list[str]:
    readers = (
        reader("z", licences=(Licence("NY"),)),  # first in the roster, never eligible
        reader("a"),
        reader("b"),
        reader("c"),
    )
    chosen = engine(readers, policy=make_policy(policy))
    chosen.workload.add(work("a1", "a"))
    chosen.workload.add(work("a2", "a"))
    chosen.workload.add(work("c1", "c"))
    picks = []
    for n in range(orders):
        decision = chosen.choose(exam(f"o{n}"), NOW)
        assert decision.reader is not None
        picks.append(decision.reader.id)
    return picks


def test_the_baselines_pick_differently_among_the_same_eligible_readers() -> None:
    assert _picks("fifo") == ["a", "a", "a"]
    assert _picks("round-robin") == ["a", "b", "c"]
    assert _picks("least-loaded", orders=1) == ["b"]
    assert _picks("scoring", orders=1) == ["b"]


def test_round_robin_wraps_around_the_roster() -> None:
    assert _picks("round-robin", orders=4)[3] == "a"


def test_each_baseline_reads_in_its_own_order() -> None:
    assert make_policy("fifo").discipline == "arrival"
    assert make_policy("least-loaded").discipline == "priority"
    assert make_policy("scoring").discipline == "deadline"


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("random")
