"""LLM gateway (no Dagster import): embedders and judges behind one interface, a persistent call cache,
retries, bounded concurrency, budgets and cost accounting.

Every call is paid for once: results are keyed by backend, model, prompt version and a hash of the exact
input, and flushed to the lake after each batch, so a re-run makes zero calls and a killed run loses at most
the batches that were in flight.
"""
