from __future__ import annotations

import pytest

from tests.scenario import Scenario


@pytest.fixture
def scenario(tmp_path) -> Scenario:
    return Scenario(tmp_path / "home")
