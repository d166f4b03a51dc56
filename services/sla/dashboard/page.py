"""`GET /dashboard`: the SLA dashboard page, its script and its style, served by sla.

The page is static -- it holds no data, so it needs no token: the script asks the operator
for a bearer token, keeps it in the tab's sessionStorage and calls `$open-orders` and
`$compliance` (layout=table) under the service's FHIR base with it. Those calls are
authorized, confined to the caller's tenant and audited like any other; the page shows
order ids, facilities and numbers, never a patient. A strict Content-Security-Policy
allows nothing but this origin (no inline script, no CDN: the page works offline).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response

from shared.fhir.outcomes import not_found

_HERE = Path(__file__).resolve().parent
# The assets served, by name, and their media types (nothing else in the folder is).
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def dashboard_page(fhir_base_path: str) -> str:
    """The page, pointed at the service's FHIR base."""
    return (_HERE / "index.html").read_text().replace("{{FHIR_BASE}}", fhir_base_path)


def dashboard_router(fhir_base_path: str) -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    page = dashboard_page(fhir_base_path)
    assets = {name: (_HERE / name).read_bytes() for name in ASSETS}

    @router.get("/dashboard", include_in_schema=False)
    async def dashboard() -> Response:
        """The SLA dashboard page."""
        return Response(page, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    @router.get("/dashboard/{name}", include_in_schema=False)
    async def dashboard_asset(name: str) -> Response:
        """The page's script or style."""
        if name not in assets:
            raise not_found("No such dashboard asset")
        return Response(assets[name], media_type=ASSETS[name], headers=SECURITY_HEADERS)

    return router
