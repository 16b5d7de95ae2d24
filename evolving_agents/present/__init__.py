"""The views the CLI and the inbox share: one wording, one risk band, one way to show a call."""
