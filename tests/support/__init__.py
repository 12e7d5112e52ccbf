"""Helpers the tests share: fake peers, factories, labs in namespaces."""
