"""Record schema: a record of this release's first format (no ``record_schema`` field, as
commit 4ff7719 wrote it) reads, decides and resumes; a newer release's record is refused,
skipped and shown, naming both versions. On memory:// and on a real wire server."""

from __future__ import annotations

from typing import Any

import pytest

from evolving_agents import MongoDBClient, OpenAIAgentsProvider, RunStatus
from evolving_agents.approvals import RECORD_SCHEMA, NewerRecordSchema
from evolving_agents.approvals.models import ApprovalStatus
from evolving_agents.approvals.store import PendingApprovalStore
from evolving_agents.approvals.worker import ResumeWorker
from evolving_agents.errors import UnreadableRecord
from evolving_agents.plans import IntentPlanStore
from tests.apps.worker_app import AGENT_NAME
from tests.apps.worker_app import build_registry as worker_registry
from tests.test_store import make_record
from tests.test_worker import tool_log  # noqa: F401  (the `tool_log` fixture)


def as_written_by_4ff7719(store: PendingApprovalStore, approval_id: str) -> dict[str, Any]:
    """The document ``create`` writes, minus the field this release added: the old format."""
    document = store.prepared(make_record(approval_id)).to_document()
    del document["record_schema"]
    return document


def from_a_newer_release(store: PendingApprovalStore, approval_id: str) -> dict[str, Any]:
    document = store.prepared(make_record(approval_id)).to_document()
    document["record_schema"] = RECORD_SCHEMA + 1
    return document


async def test_a_record_without_a_schema_reads_as_schema_1_and_its_next_transition_writes_it(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)
    await store._collection.insert_one(as_written_by_4ff7719(store, "old"))
    raw = await store._collection.find_one({"_id": "old"})
    assert raw is not None and "record_schema" not in raw

    record = await store.get("old")
    assert record.record_schema == 1 and record.status is ApprovalStatus.PENDING
    assert store.integrity_problems(record) == [], "its seals still verify"
    assert [r.id for r in (await store.list()).items] == ["old"]

    decided = await store.decide("old", verdict="approved", reviewer="alice")
    assert decided.status is ApprovalStatus.DECIDED
    raw = await store._collection.find_one({"_id": "old"})
    assert raw is not None and raw["record_schema"] == RECORD_SCHEMA, "written in the new form"
    assert store.integrity_problems(await store.get("old")) == []


async def test_a_record_from_a_newer_release_is_refused_naming_both_versions_and_listed(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)
    await store._collection.insert_many(
        [from_a_newer_release(store, "new"), as_written_by_4ff7719(store, "old")]
    )

    with pytest.raises(NewerRecordSchema) as refused:
        await store.get("new")
    assert isinstance(refused.value, UnreadableRecord)
    assert (refused.value.found, refused.value.supported) == (RECORD_SCHEMA + 1, RECORD_SCHEMA)
    assert f"schema {RECORD_SCHEMA + 1}" in str(refused.value)
    assert f"schema {RECORD_SCHEMA} and older" in str(refused.value)

    page = await store.list()
    assert [r.id for r in page.items] == ["old"]
    assert [(u.id, u.position) for u in page.unreadable] == [("new", 0)]
    assert "newer release" in page.unreadable[0].problem
    assert "new" in store.unreadable_seen
    with pytest.raises(NewerRecordSchema):
        await store.decide("new", verdict="approved", reviewer="alice")
    raw = await store._collection.find_one({"_id": "new"})
    assert raw is not None and raw["version"] == 1 and raw["status"] == "pending", "untouched"


@pytest.mark.usefixtures("tool_log")
async def test_an_old_format_paused_run_is_decided_and_resumed_by_a_worker(
    mongo: MongoDBClient,
) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=worker_registry())
    run = await provider.execute_agent(AGENT_NAME, "apply the change", actor="ops")
    assert run.status is RunStatus.AWAITING_APPROVAL and run.approval_id is not None
    store = provider.store
    # As the previous release wrote it: the same document, without the field.
    await store._collection.update_one({"_id": run.approval_id}, {"$unset": {"record_schema": ""}})
    await store.decide(run.approval_id, verdict="approved", reviewer="alice")
    await store._collection.update_one({"_id": run.approval_id}, {"$unset": {"record_schema": ""}})

    stats = await ResumeWorker(provider, poll_interval=0.05, max_poll_interval=0.2).run(drain=True)
    assert (stats.completed, stats.unreadable, stats.errors) == (1, 0, 0)
    done = await store.get(run.approval_id)
    assert done.status is ApprovalStatus.COMPLETED and done.record_schema == RECORD_SCHEMA


async def test_a_newer_release_record_is_skipped_by_the_worker_and_counted_unreadable(
    mongo: MongoDBClient,
) -> None:
    provider = OpenAIAgentsProvider(mongodb_client=mongo, registry=worker_registry())
    store = provider.store
    await store.ensure_indexes()  # as any create would have (the worker's queries use them)
    document = from_a_newer_release(store, "new")
    document["status"] = "decided"
    await store._collection.insert_one(document)

    stats = await ResumeWorker(provider, poll_interval=0.05, max_poll_interval=0.2).run(drain=True)
    assert (stats.claimed, stats.unreadable, stats.errors) == (0, 1, 0)
    raw = await store._collection.find_one({"_id": "new"})
    assert raw is not None and raw["status"] == "decided" and raw["version"] == 1


async def test_linking_a_plan_is_one_audited_update_through_the_store(
    mongo: MongoDBClient,
) -> None:
    store = PendingApprovalStore(mongo)
    await store.create(make_record("a1"))
    plans = IntentPlanStore(mongo, approvals=store)
    plan = await plans.create_for_approval("a1")
    again = await plans.create_for_approval("a1")

    record = await store.get("a1")
    assert record.plan_id == plan.plan_id == again.plan_id
    linked = [entry for entry in record.audit if entry.action == "plan_linked"]
    assert [entry.detail["plan_id"] for entry in linked] == [plan.plan_id], "audited once"
    assert store.integrity_problems(record) == [], "the audit chain stays intact"
    stored_plan = await plans.collection.find_one({"_id": plan.plan_id})
    assert stored_plan is not None and stored_plan["record_schema"] == 1
