"""Root pytest set-up: applies to tests/ and to the notebooks nbval collects."""

import pytest


def pytest_collection_modifyitems(config, items):
    """Tag nbval's notebook cells with the `notebooks` marker, so `-m "not notebooks"` works."""
    for item in items:
        if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
            item.add_marker(pytest.mark.notebooks)
