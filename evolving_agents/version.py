"""The package's version, in a module of its own so that any floor may read it.

    from evolving_agents.version import __version__

The installed distribution's metadata says the same; this is the answer for a source tree
that is not installed.
"""

__version__ = "0.1.0"
