"""The ``Runner.run`` options of one run, fresh or resumed, resolved from where each comes from.

::

    plan = fresh_plan(FreshArgs(context=ctx, max_turns=10), supplies)
    result = await Runner.run(agent, input, **plan.runner_options())

    plan = await resumed_plan(record, state_json, supplies, ResumeArgs(context=handles))
    result = await Runner.run(agent, state, **plan.runner_options(resumed=True))

A fresh run takes the caller's options, else the agent's registered supplies, else the
provider's (``RunSupplies.over``). A resumed run takes what the pause stored on the record
(``StoredRunOptions``) and what the resuming process supplies again for what could not be stored;
a missing one refuses the resume before anything is claimed (``RunOptionMissing``, see
``run_options.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from agents import RunConfig, RunErrorHandlers, RunHooks
from agents.memory import Session

from evolving_agents.approvals.models import PendingApproval, StoredRunOptions
from evolving_agents.errors import RunOptionMissing
from evolving_agents.providers import run_options
from evolving_agents.providers.context_codec import ContextCodec, codec_from_state
from evolving_agents.providers.run_options import RunSupplies

DEFAULT_MAX_TURNS = 10


@dataclass(frozen=True)
class RunPlan:
    """The ``Runner.run`` options of one run (fresh or resumed), resolved."""

    context: Any
    max_turns: int | None
    hooks: RunHooks[Any] | None
    run_config: RunConfig | None
    error_handlers: RunErrorHandlers[Any] | None
    previous_response_id: str | None
    auto_previous_response_id: bool
    conversation_id: str | None
    session: Session | None
    context_codec: ContextCodec | None
    partial_resume: bool
    override_max_turns: bool = False
    restore_codec: ContextCodec | None = None
    """How a resumed run's stored context is rebuilt (None: as stored, or ``context``)."""

    def runner_options(self, *, resumed: bool = False) -> dict[str, Any]:
        options: dict[str, Any] = {
            "hooks": self.hooks,
            "run_config": self.run_config,
            "error_handlers": self.error_handlers,
            "previous_response_id": self.previous_response_id,
            "auto_previous_response_id": self.auto_previous_response_id,
            "conversation_id": self.conversation_id,
            "session": self.session,
        }
        if not resumed:
            # A resumed run takes its context and turn limit from the state (see resuming.py).
            options.update(context=self.context, max_turns=self.max_turns)
        return options

    def context_value(self, result: Any) -> Any:
        """The application context as the run left it (tools may have replaced fields)."""
        wrapper = getattr(result, "context_wrapper", None)
        return self.context if wrapper is None else wrapper.context

    def stored(self, context_codec: str | None) -> StoredRunOptions:
        return run_options.capture(
            run_config=self.run_config,
            max_turns=self.max_turns,
            hooks=self.hooks,
            error_handlers=self.error_handlers,
            session=self.session,
            conversation_id=self.conversation_id,
            previous_response_id=self.previous_response_id,
            auto_previous_response_id=self.auto_previous_response_id,
            context_codec=context_codec,
            partial_resume=self.partial_resume,
        )


class FreshArgs(NamedTuple):
    """What ``execute_agent`` was given, with ``Runner.run``'s meanings."""

    context: Any = None
    max_turns: int | None = DEFAULT_MAX_TURNS
    hooks: RunHooks[Any] | None = None
    run_config: RunConfig | None = None
    error_handlers: RunErrorHandlers[Any] | None = None
    previous_response_id: str | None = None
    auto_previous_response_id: bool = False
    conversation_id: str | None = None
    session: Session | None = None


class ResumeArgs(NamedTuple):
    """What ``resume_agent`` was given to use instead of what the pause stored."""

    context: Any = None
    max_turns: int | None = None
    hooks: RunHooks[Any] | None = None
    run_config: RunConfig | None = None
    error_handlers: RunErrorHandlers[Any] | None = None
    session: Session | None = None
    partial: bool | None = None


def fresh_plan(args: FreshArgs, supplies: RunSupplies) -> RunPlan:
    """A fresh run's options: the caller's, else the agent's registered ones, else ours."""
    return RunPlan(
        context=args.context,
        max_turns=args.max_turns,
        hooks=supplies.hooks if args.hooks is None else args.hooks,
        run_config=supplies.run_config if args.run_config is None else args.run_config,
        error_handlers=(
            supplies.error_handlers if args.error_handlers is None else args.error_handlers
        ),
        previous_response_id=args.previous_response_id,
        auto_previous_response_id=args.auto_previous_response_id,
        conversation_id=args.conversation_id,
        session=args.session,
        context_codec=supplies.context_codec,
        partial_resume=bool(supplies.partial_resume),
    )


async def resumed_plan(
    record: PendingApproval,
    state_json: dict[str, Any],
    supplies: RunSupplies,
    args: ResumeArgs,
) -> RunPlan:
    """A resumed run's options, or ``RunOptionMissing`` naming what this process lacks."""
    stored = record.run_options
    run_config = (
        args.run_config
        if args.run_config is not None
        else run_options.rebuild_run_config(stored, supplies.run_config)
    )
    hooks = supplies.hooks if args.hooks is None else args.hooks
    handlers = supplies.error_handlers if args.error_handlers is None else args.error_handlers
    session = args.session
    if session is None and stored.session_id is not None and supplies.session_factory:
        session = await run_options.open_session(supplies.session_factory, stored.session_id)
    codec = _restore_codec(stored, state_json, supplies, args)
    lacking = run_options.missing(
        stored,
        run_config=run_config,
        hooks=hooks,
        error_handlers=handlers,
        session=session,
        has_context=args.context is not None or codec is not None,
    )
    if lacking:
        raise RunOptionMissing(record.id, lacking)
    return RunPlan(
        context=args.context,
        max_turns=stored.max_turns if args.max_turns is None else args.max_turns,
        hooks=hooks,
        run_config=run_config,
        error_handlers=handlers,
        previous_response_id=stored.previous_response_id,
        auto_previous_response_id=stored.auto_previous_response_id,
        conversation_id=stored.conversation_id,
        session=session,
        # A pause of the resumed run stores its context as a fresh run would.
        context_codec=supplies.context_codec,
        restore_codec=codec,
        partial_resume=stored.partial_resume,
        override_max_turns=args.max_turns is not None,
    )


def resumes_partially(record: PendingApproval, supplies: RunSupplies, args: ResumeArgs) -> bool:
    """Whether this resume may leave calls undecided: the caller's say, else the agent's or
    the provider's ``partial_resume``, else what the paused run was started with."""
    if args.partial is not None:
        return args.partial
    if supplies.partial_resume is not None:
        return supplies.partial_resume
    return record.run_options.partial_resume


def _restore_codec(
    stored: StoredRunOptions,
    state_json: dict[str, Any],
    supplies: RunSupplies,
    args: ResumeArgs,
) -> ContextCodec | None:
    if args.context is not None:
        return None  # the caller's context replaces the stored one
    if stored.context_codec == "custom":
        return supplies.context_codec
    if stored.context_codec == "type":
        return supplies.context_codec or codec_from_state(state_json)
    return None
