"""Datasets: one ``Dataset`` type and a format module per on-disk layout."""

from edgeloop.data.dataset import Dataset, DatasetFormat, Item

__all__ = ["Dataset", "DatasetFormat", "Item"]
