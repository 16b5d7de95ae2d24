"""The storage seam: the MongoDB store and queue are the protocols' shapes, and the worker
needs nothing else. (mypy --strict checks the signatures: ``approvals/store.py`` assigns
each class to its protocol under ``TYPE_CHECKING``.)"""

from __future__ import annotations

import ast

from evolving_agents.approvals import (
    ApprovalStore,
    MongoResumeQueue,
    PendingApprovalStore,
    ResumeQueue,
)
from evolving_agents.storage.mongodb_client import MongoDBClient
from evolving_agents.storage.names import APPROVALS, ApprovalIndex


def test_the_mongodb_store_and_its_queue_satisfy_the_protocols() -> None:
    store = PendingApprovalStore(MongoDBClient("memory://"))
    _: ApprovalStore = store
    queue: ResumeQueue = store.queue
    assert isinstance(store, ApprovalStore)
    assert isinstance(queue, ResumeQueue) and isinstance(queue, MongoResumeQueue)
    assert not isinstance(object(), ApprovalStore)


def test_names_are_defined_once_and_the_old_constants_are_the_same_values() -> None:
    from evolving_agents.approvals.ledger import COLLECTION_NAME as LEDGER
    from evolving_agents.approvals.store import COLLECTION_NAME
    from evolving_agents.plans.intent_plans import PLANS_COLLECTION
    from evolving_agents.storage import names

    assert COLLECTION_NAME == APPROVALS == "eat_openai_pending_approvals"
    assert LEDGER == names.TOOL_EXECUTIONS and PLANS_COLLECTION == names.INTENT_PLANS
    assert ApprovalIndex.STATUS_CREATED == "status_created"


async def test_indexes_are_created_under_the_names_of_storage_names() -> None:
    client = MongoDBClient("memory://")
    store = PendingApprovalStore(client)
    await store.ensure_indexes()
    created = set(await client.collection(APPROVALS).index_information())
    assert {index.value for index in ApprovalIndex if index is not ApprovalIndex.UPDATED_AT} <= (
        created
    )


def test_no_module_outside_approvals_touches_the_store_collection() -> None:
    """Only ``approvals/`` holds the raw approvals collection (issue 11)."""
    import pathlib

    package = pathlib.Path(__file__).resolve().parent.parent / "evolving_agents"
    offenders = []
    for path in package.rglob("*.py"):
        if path.parent.name == "approvals":
            continue
        text = path.read_text(encoding="utf-8")
        if "store._collection" in text or "_approvals.collection" in text:
            offenders.append(str(path.relative_to(package)))
        if path.parent.name == "storage":
            continue  # the names and the client the collection is reached through
        # ``client.collection(APPROVALS)`` or a collection name that defaults to it.
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "collection"
                and node.args
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in {"APPROVALS", "collection_name", "approvals_collection"}
            ):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == []
