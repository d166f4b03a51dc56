"""The gateway's settings: where the services are, read from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.gateway.app import REGISTRIES, create_app
from services.gateway.settings import GatewaySettings


def test_each_service_url_comes_from_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_URL", "http://intake:8000/")
    monkeypatch.setenv("SLA_URL", "https://sla.internal")
    urls = GatewaySettings().service_urls
    assert urls["intake"] == "http://intake:8000"
    assert urls["sla"] == "https://sla.internal"
    assert set(urls) == {r.service for r in REGISTRIES}


def test_a_service_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValidationError, match="http"):
        GatewaySettings(reporting_url="intake:8000")


def test_production_names_every_service_explicitly() -> None:
    with pytest.raises(ValidationError, match="ASSIGNMENT_URL, INTAKE_URL, REPORTING_URL"):
        GatewaySettings(environment="production", sla_url="http://sla:8000")
    urls = {f"{r.service}_url": f"http://{r.service}:8000" for r in REGISTRIES}
    production = GatewaySettings.model_validate({"environment": "production", **urls})
    assert production.environment == "production"


def test_the_app_is_built_without_touching_the_network() -> None:
    app = create_app(GatewaySettings())
    assert app.state.routes.services == tuple(r.service for r in REGISTRIES)
