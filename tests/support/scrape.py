"""Reading a /metrics answer as Prometheus would: the text format parsed by
prometheus-client's own parser, samples looked up by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    text: str

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when no sample has these labels."""
        wanted = set(labels.items())
        found = [
            sample.value
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            if sample.name == name and wanted <= set(sample.labels.items())
        ]
        return sum(found)

    def names(self) -> set[str]:
        """Every family and sample name (a family may have no samples)."""
        found = set()
        for family in text_string_to_metric_families(self.text):
            found.add(family.name)
            found.update(sample.name for sample in family.samples)
        return found

    def label_values(self) -> set[str]:
        return {
            value
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            for value in sample.labels.values()
        }
