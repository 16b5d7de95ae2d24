"""``eat approvals resume --all-decided``: every decided run, one after another."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from evolving_agents.approvals.models import CallOutcomeStatus, RunStatus
from evolving_agents.cli.common import err_console
from evolving_agents.errors import ApprovalConflict, ApprovalError, EvolvingAgentsError

if TYPE_CHECKING:  # the caller brings the provider; importing it here would load the SDK
    from evolving_agents.providers.openai_agents_provider import OpenAIAgentsProvider


async def resume_each_decided(
    provider: OpenAIAgentsProvider, *, quiet: bool
) -> list[dict[str, Any]]:
    """Every decided record, one after another, with a progress bar on stderr."""
    ids: list[str] = []
    cursor = None
    # Ids first, then resumes: each completion changes the list we would be paging through.
    while True:
        page = await provider.store.list(status="decided", limit=1000, cursor=cursor)
        ids += [record.id for record in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    results: list[dict[str, Any]] = []
    with Progress(
        TextColumn("resuming"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=quiet,
        disable=quiet,
    ) as progress:
        task = progress.add_task("", total=len(ids))
        for approval_id in ids:
            progress.update(task, description=approval_id)
            results.append(await resume_quietly(provider, approval_id))
            progress.advance(task)
    return results


async def resume_quietly(provider: OpenAIAgentsProvider, approval_id: str) -> dict[str, Any]:
    """One record of a bulk resume; a failure is reported and the next record goes on."""
    try:
        outcome = await provider.resume_agent(approval_id)
    except ApprovalConflict as exc:
        # Another worker claimed it between our list and our claim: theirs to finish.
        return {"approval_id": approval_id, "outcome": "skipped", "detail": exc.reason}
    except (ApprovalError, EvolvingAgentsError) as exc:
        return {"approval_id": approval_id, "outcome": "refused", "detail": str(exc)}
    if outcome.status is RunStatus.TOOL_ERROR:
        errors = [
            f"{call_id}: {result.error or 'raised'}"
            for call_id, result in outcome.outcomes.items()
            if result.status is CallOutcomeStatus.TOOL_ERROR
        ]
        detail = "tool error, the approved action did not happen: " + (
            "; ".join(errors) or outcome.error or "see eat approvals show"
        )
    else:
        detail = outcome.error or (
            f"paused again: {outcome.approval_id}"
            if outcome.status is RunStatus.AWAITING_APPROVAL
            else str(outcome.final_output)
        )
    return {"approval_id": approval_id, "outcome": outcome.status.value, "detail": detail}
