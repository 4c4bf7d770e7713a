"""Every name the package promises in `rnnkit.__all__` resolves, and import stays light."""

import subprocess
import sys

import pytest

import rnnkit


@pytest.mark.parametrize("name", [name for name in rnnkit.__all__ if name != "__version__"])
def test_public_name_resolves(name):
    assert getattr(rnnkit, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'build_modle'"):
        rnnkit.build_modle  # noqa: B018


def test_import_does_not_load_tensorflow():
    code = "import sys, rnnkit; print('tensorflow' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"
