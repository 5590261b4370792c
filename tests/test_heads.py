"""The heads shipped in the package (jurist.heads): each loads with its card, refuses another base model,
is what its preset resolves to, and (on the real model) reproduces the verdicts recorded when it was shipped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jurist.api import compare
from jurist.backends.base import BackendError
from jurist.backends.models import MODELS
from jurist.backends.presets import PRESETS
from jurist.backends.registry import resolve_backend
from jurist.heads import HEADS, head_dir
from jurist.learn.learner import ProbeBackend
from jurist.learn.probe import ProbeError, load_probe
from jurist.types import Item

SHIPPED = sorted(p.name for p in HEADS.iterdir() if (p / "card.json").is_file())
HEAD_PRESETS = {p.name: p.head for p in PRESETS.values() if p.head}
# the embedded model each shipped head reads, from the preset that names it
HEAD_MODEL = {p.head: p.model for p in PRESETS.values() if p.head}


def test_a_head_is_shipped_and_every_head_preset_names_one():
    assert SHIPPED and HEAD_PRESETS
    assert set(HEAD_PRESETS.values()) == set(SHIPPED)  # no head ships without a preset, none is named but missing


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_head_loads_with_its_card(name):
    card, model = load_probe(head_dir(name))
    assert card.kind == "compare" and card.labels == ["A", "B"]
    model_key = HEAD_MODEL[name]
    assert card.base["sha256"] == MODELS[model_key].sha256
    assert card.base["spec"] == ("local" if model_key == "0.5b" else f"local:{model_key}")
    assert isinstance(card.features["layer"], int) and card.features["dimension"] == model.coef.shape[0]
    assert len(card.data["sha256"]) == 64 and card.data["n"] >= 100
    transfer = card.transfer
    assert transfer["benchmark"] == "benchmarks/generalization.py"
    assert len(transfer["leave_one_dataset_out"]) == 7  # one held-out accuracy per pairwise set
    assert transfer["worst"] == min(cell[0] for cell in transfer["leave_one_dataset_out"].values())
    assert card.features.get("length_neutral", False) == (model.length_slope is not None)
    size = sum(f.stat().st_size for f in head_dir(name).iterdir())
    assert size < 200_000  # small enough to live in the package


class OtherBase:
    """A feature source for another embedded model than the head's: the head must refuse it."""

    groups, layer = ("layer",), 0

    def __init__(self, model_key: str):
        self.spec = "local" if model_key == "0.5b" else f"local:{model_key}"
        self.sha256 = MODELS[model_key].sha256

    def dimension(self, labels):
        return 1536

    def vector(self, request, fields):
        raise AssertionError("a refused base model is never read")


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_head_refuses_another_base_model(name):
    others = [key for key in MODELS if key != HEAD_MODEL[name]]
    assert others
    for other in others:
        with pytest.raises(ProbeError, match="sha256"):
            ProbeBackend(head_dir(name), source=OtherBase(other))


def test_the_head_preset_resolves_to_its_shipped_head_without_loading_a_model():
    for spec, head in HEAD_PRESETS.items():
        backend = resolve_backend(spec)
        assert isinstance(backend, ProbeBackend) and backend.directory == head_dir(head)
        assert backend.spec == f"{spec}:{backend.card.hash[:16]}"  # verdicts name the preset and the head's weights
        assert backend._source is None  # the model is loaded on the first request, not before


def _examples(name: str) -> list[dict]:
    path = head_dir(name) / "examples.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.model
@pytest.mark.parametrize("spec", sorted(HEAD_PRESETS))
def test_a_shipped_head_reproduces_its_recorded_verdicts(spec):
    recorded = _examples(HEAD_PRESETS[spec])
    assert len(recorded) >= 3
    items = [Item(id=r["id"], input=r["input"], candidates=[r["response_a"], r["response_b"]]) for r in recorded]
    judged = compare(items, judge=spec).judgments
    p_a = np.array([j.verdict.p_a for j in judged], dtype=float)
    # the recorded values came from the same model and code; only float rounding of another CPU may differ
    assert np.allclose(p_a, [r["p_a"] for r in recorded], atol=2e-3), (p_a, [r["p_a"] for r in recorded])
    assert [j.verdict.preference for j in judged] == [r["preference"] for r in recorded]
    assert all(j.verdict.status == "scored" for j in judged)
    assert all(j.judge.startswith(f"{spec}:") for j in judged)  # the verdict records which preset and head decided


def test_a_head_asked_for_another_task_stops_the_run_before_loading_a_model():
    from jurist.engine.runner import prepare
    from jurist.plan import Plan, PlanError

    items = [Item(id="s1", input="Say hi.", candidates=["hi"])]
    for spec in HEAD_PRESETS:
        with pytest.raises(PlanError, match="fitted for the labels"):
            prepare(Plan.parse({"task": "score", "judge": {"spec": spec}}), items)
        pair = [Item(id="p1", input="Say hi.", candidates=["hi", "hello"])]
        with pytest.raises(PlanError, match="not rendered by the protocol"):
            prepare(Plan.parse({"task": "compare", "judge": {"spec": spec},
                                "protocol": {"criteria": "Prefer the shorter response."}}), pair)
        prepared = prepare(Plan.parse({"task": "compare", "judge": {"spec": spec}}), pair)
        assert prepared.judge.backend._source is None  # accepted, and still no model loaded


WORDING_JURY = PRESETS["wording-jury"]


def test_the_wording_jury_is_a_jury_of_heads_each_reading_its_own_wording_without_loading_a_model():
    from jurist.cli.planning import untrusted_judges
    from jurist.engine.runner import prepare
    from jurist.plan import Plan
    from jurist.protocols import PairwiseProtocol
    from jurist.protocols.base import builtin_template

    plan = Plan.parse({"task": "compare", "judge": {"spec": "local:wording-jury"}})
    assert plan.judge.jury == list(WORDING_JURY.members)  # the plan says which judges decide
    pair = [Item(id="p1", input="Say hi.", candidates=["hi", "hello"])]
    jury = prepare(plan, pair).judge  # each head accepts the request rendered in its wording
    assert [m.backend.spec.rsplit(":", 1)[0] for m in jury.members] == list(WORDING_JURY.members)
    for member, spec in zip(jury.members, WORDING_JURY.members, strict=True):
        wording = PRESETS[spec.removeprefix("local:")].template or "pairwise"
        assert member.protocol.identity == PairwiseProtocol(template=builtin_template(f"{wording}.j2")).identity
        assert member.backend._source is None
    assert len({m.protocol.identity["template_hash"] for m in jury.members}) == 3
    # the jury was measured as one judge: its own worst case is reported, not its members'
    assert untrusted_judges(plan) == [WORDING_JURY.untrusted_note()]
    with pytest.raises(BackendError, match="is a jury of"):
        resolve_backend("local:wording-jury")


def test_a_named_template_overrides_a_heads_own_wording_and_the_head_refuses_it():
    from jurist.engine.runner import prepare
    from jurist.plan import Plan, PlanError

    pair = [Item(id="p1", input="Say hi.", candidates=["hi", "hello"])]
    with pytest.raises(PlanError, match="not rendered by the protocol"):
        prepare(Plan.parse({"task": "compare", "judge": {"spec": "local:mass-mean-head-plain"},
                            "protocol": {"template": "pairwise"}}), pair)
    prepared = prepare(Plan.parse({"task": "compare", "judge": {"spec": "local:mass-mean-head-plain"},
                                   "protocol": {"template": "pairwise_plain"}}), pair)
    assert prepared.judge.backend._source is None


@pytest.mark.model
def test_the_wording_jury_on_the_real_model_is_the_mean_of_its_heads_recorded_verdicts():
    members = list(WORDING_JURY.members)
    recorded = {spec: {r["id"]: r for r in _examples(HEAD_PRESETS[spec])} for spec in members}
    shared = sorted(set.intersection(*(set(r) for r in recorded.values())))[:2]
    assert shared  # the heads were shipped with examples on the same pairs
    first = recorded[members[0]]
    items = [Item(id=i, input=first[i]["input"], candidates=[first[i]["response_a"], first[i]["response_b"]])
             for i in shared]
    judged = compare(items, judge="local:wording-jury").judgments
    for judgment in judged:
        verdict = judgment.verdict
        assert verdict.status == "scored"
        parts = [part.p_a for part in verdict.parts]
        assert np.allclose(parts, [recorded[spec][judgment.item_id]["p_a"] for spec in members], atol=2e-3)
        assert verdict.p_a == pytest.approx(float(np.mean(parts)))
        assert [m.rsplit(":", 1)[0] for m in verdict.metadata["members"]] == members
