"""Prometheus metrics: what every process of `bootsvc serve` counts
(bootsvc.metrics.families) and how the counts of all of them add up into one
scrape (bootsvc.metrics.processes). Imports nothing else of bootsvc, so that
every layer, the protocol servers included, may count through it."""
