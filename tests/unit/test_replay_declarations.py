"""Replays are declared once, beside their fault class (engines/faults.py): the engine
registry's replay-* kinds, `rerankwatch replay`'s list and docs/replays.md's table follow."""

from __future__ import annotations

import inspect
from pathlib import Path

from rerankwatch.checks import CHECKS
from rerankwatch.engines import ENGINES, engine_class, faults
from rerankwatch.engines.faults import FAULT_KINDS, INCIDENTS, FaultEngine
from rerankwatch.pipeline.replay import (
    NIGHTS,
    REFERENCES,
    REPLAYS,
    TABLE_END,
    TABLE_START,
    readme_with_replay_table,
    replay_names,
)

# the replay table lives on the docs site's Incident replays page
README = Path(__file__).resolve().parents[2] / "docs" / "replays.md"


def test_readme_replay_table_is_the_generated_one():
    readme = README.read_text(encoding="utf-8")
    assert readme.count(TABLE_START) == readme.count(TABLE_END) == 1
    assert readme_with_replay_table(readme) == readme, (
        "docs/replays.md's replay table differs from the replays engines/faults.py declares: "
        "`make replay-table` writes it")


def test_every_fault_class_is_a_registered_kind():
    declared = {cls for _, cls in inspect.getmembers(faults, inspect.isclass)
                if cls.__module__ == faults.__name__ and hasattr(cls, "replays")
                and cls is not FaultEngine}
    assert declared == set(FAULT_KINDS.values())  # none left out of @fault_kind
    replay_kinds = {kind for kind in ENGINES if kind.startswith("replay-")}
    assert replay_kinds == set(FAULT_KINDS)
    for kind, cls in FAULT_KINDS.items():
        assert engine_class(kind) is cls
        assert all(i.kind == kind for i in cls.replays)


def test_replays_follow_their_declarations():
    names = [i.name for i in INCIDENTS]
    assert len(names) == len(set(names))
    assert replay_names() == [r.name for r in REPLAYS] + [NIGHTS]
    assert [i.name for i in INCIDENTS if i.nights] == [NIGHTS]
    by_name = {i.name: i for i in INCIDENTS}
    seen_control = False
    for replay in REPLAYS:  # the incidents first, then the clean controls
        incident = by_name[replay.name]
        assert not (seen_control and not replay.clean), replay.name
        seen_control = seen_control or replay.clean
        assert replay.candidate["kind"] == incident.kind in ENGINES
        assert replay.candidate["name"] == incident.engine
        assert replay.reference is REFERENCES[incident.reference]
        assert replay.expected == incident.checks


def test_each_incident_names_the_checks_expected_to_catch_it():
    for incident in INCIDENTS:
        assert set(incident.checks) <= set(CHECKS), incident.name
        assert bool(incident.checks) != incident.clean, incident.name  # controls: none
        assert not incident.source or incident.source.startswith("https://"), incident.name
