"""Test helpers and factories (the only module tests import helpers from: no test imports
from a conftest module or from another test file)."""
