"""Enrichers: each a small module with one concern and the same shape.

A module has `NAME`, `VERSION` and `build(config) -> Enricher`, an object
with `NAME`, `VERSION` and `enrich(item) -> dict` returning the fields it
sets. enrichment.pipeline.ENRICHERS lists the modules in the order they run.
"""
