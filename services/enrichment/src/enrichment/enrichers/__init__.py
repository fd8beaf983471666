"""Enrichers: each a small module with one concern and the same shape.

An enricher has a `NAME`, a `VERSION` and `enrich(item) -> dict` returning the
fields it sets. The pipeline (enrichment.pipeline.PIPELINE) lists them.
"""
