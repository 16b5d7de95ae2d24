"""Public test helpers, like the SDK's ``agents.testing``: a fake BIGHUB server on 127.0.0.1."""

from evolving_agents.testing.fake_bighub import FakeBighubServer, RecordedRequest

__all__ = ["FakeBighubServer", "RecordedRequest"]
