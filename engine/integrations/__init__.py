"""Filter-engine where users already work: Hugging Face ``datasets``, datatrove, and any
Arrow stream (polars, duckdb). Each module imports its library lazily; none is needed by
the engine itself (install ``filter-engine[integrations]``)."""
