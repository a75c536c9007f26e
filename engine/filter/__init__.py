"""The filter: its spec (TOML), the rule language, the stages and the Filter applied to a batch."""
