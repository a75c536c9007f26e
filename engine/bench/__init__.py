"""The pipeline benchmark behind ``filter-engine bench`` and its seeded corpus generator."""
