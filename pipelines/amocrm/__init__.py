"""amoCRM API v4 -> DuckDB `raw_amocrm` with dlt, incrementally (docs/design.md §3)."""

from pipelines.amocrm.run import make_pipeline, run_extraction
from pipelines.amocrm.source import amocrm_source

__all__ = ["amocrm_source", "make_pipeline", "run_extraction"]
