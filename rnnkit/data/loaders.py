"""Loaders for real downloadable datasets (registered in the next step of issue 3)."""
