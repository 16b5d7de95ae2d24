"""``python -m evolving_agents`` is the ``eat`` command."""

from evolving_agents.cli.main import main

main()
