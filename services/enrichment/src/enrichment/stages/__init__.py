"""Batch stages: what runs after the pure enrichers, on a whole batch, with I/O.

A stage is a module with `NAME`, `VERSION` and `build(redis, settings)`
returning an object whose `async run(items) -> list[items]` sets its fields
and provenance; `settings` are the stage's own, the service settings' field
named after it (`related`: NEWSFEED_RELATED_*). enrichment.pipeline.STAGES
lists the modules in the order they run. A stage that fails with anything
but a Redis error records itself in each item's `enrichment_failures` and
the items go on; a Redis error fails the batch, which the delivery layer
retries.
"""
