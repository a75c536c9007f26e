"""CLI subcommands, one module each (discovered by ``engine.cli``)."""
