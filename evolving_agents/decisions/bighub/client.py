"""The ``bighub`` SDK behind one door: loading it, building its client, classifying failures.

::

    sdk = load_sdk()                                   # ConfigurationError without the extra
    client = build_client(sdk, api_key=key, base_url=url, timeout=3.0)
    raw = await evaluate_once(sdk, client, request, attempt=1, timeout=3.0)  # or ProviderFailure
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from evolving_agents.errors import ConfigurationError

if TYPE_CHECKING:
    from bighub import AsyncBighubClient

INSTALL_HINT = "pip install 'evolving-agents[bighub]'"
_RETRY_BACKOFF_SECONDS = 0.1


@dataclass
class ProviderFailure(Exception):
    """One failed attempt, classified; ``kind`` is what ``DecisionSignal.error`` starts with."""

    kind: str
    detail: str
    attempts: int
    retryable: bool = False
    retry_after: float | None = None

    def backoff(self, timeout: float) -> float:
        if self.retry_after is not None:
            return max(0.0, min(float(self.retry_after), timeout))
        return _RETRY_BACKOFF_SECONDS


def load_sdk() -> ModuleType:
    try:
        return importlib.import_module("bighub")
    except ImportError as exc:
        raise ConfigurationError(
            f"BighubDecisionProvider needs the bighub SDK: {INSTALL_HINT}"
        ) from exc


def build_client(
    sdk: ModuleType, *, api_key: str | None, base_url: str | None, timeout: float
) -> AsyncBighubClient:
    """The SDK client, its own retries off (the provider counts attempts itself)."""
    key = (api_key or "").strip()
    if not key:
        raise ConfigurationError("BIGHUB API key missing: pass api_key=... or set BIGHUB_API_KEY")
    options: dict[str, Any] = {"api_key": key, "timeout": timeout, "max_retries": 0}
    if base_url:
        options["base_url"] = base_url
    try:
        client: AsyncBighubClient = sdk.AsyncBighubClient(**options)
    except ValueError as exc:  # the SDK refuses plain http:// outside localhost
        raise ConfigurationError(f"BIGHUB base_url {base_url!r} refused: {exc}") from exc
    return client


async def evaluate_once(
    sdk: ModuleType,
    client: AsyncBighubClient,
    request: dict[str, Any],
    *,
    attempt: int,
    timeout: float,
) -> object:
    """One ``decide`` call bounded by ``timeout``; every SDK failure becomes a ProviderFailure."""
    try:
        return await asyncio.wait_for(client.decide(**request), timeout=timeout)
    except (TimeoutError, sdk.BighubTimeoutError) as exc:
        raise ProviderFailure(
            "timeout", f"no answer within {timeout:g}s", attempt, retryable=True
        ) from exc
    except sdk.BighubNetworkError as exc:
        raise ProviderFailure("network", str(exc), attempt, retryable=True) from exc
    except sdk.BighubAuthError as exc:
        raise ProviderFailure("auth", str(exc) or "unauthorized", attempt) from exc
    except sdk.BighubRateLimitError as exc:
        retry_after = exc.retry_after_seconds
        raise ProviderFailure(
            "rate_limited", str(exc), attempt, retryable=True, retry_after=retry_after
        ) from exc
    except sdk.BighubValidationError as exc:
        raise ProviderFailure("validation", str(exc), attempt) from exc
    except sdk.BighubAPIError as exc:
        status = int(exc.status_code)
        kind = "server_error" if status >= 500 else f"http_{status}"
        retryable = status >= 500 or status == 408
        raise ProviderFailure(kind, str(exc), attempt, retryable=retryable) from exc
