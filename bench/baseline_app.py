"""The bare baseline of the intake benchmark: the same stack with no FHIR work.

FastAPI under the same uvicorn, an asyncpg pool, and three endpoints over one table:
POST /orders stores the posted JSON (parsed, given an id, re-serialised, one INSERT),
GET /orders/{id} returns it (one SELECT by id), and GET /orders?patient=&_count= pages
through one patient's orders by primary key. No validation, no auth, no index rows, no
history, no telemetry: whatever the FHIR service costs above this is the FHIR layer.

Run by bench/intake_bench.py as `uvicorn --factory bench.baseline_app:create_app`, with
BASELINE_DATABASE_URL (postgresql://...) and BASELINE_POOL_SIZE in the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response

TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_order ("
    " pk bigserial PRIMARY KEY,"
    " id text NOT NULL UNIQUE,"
    " patient text,"
    " content text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_bench_order_patient_pk ON bench_order (patient, pk)",
)
JSON = "application/json"
_INSERT = "INSERT INTO bench_order (id, patient, content) VALUES ($1, $2, $3)"
_SELECT = "SELECT content FROM bench_order WHERE id = $1"
_PAGE = "SELECT pk, content FROM bench_order WHERE patient = $1 AND pk > $2 ORDER BY pk LIMIT $3"


def _dsn(url: str) -> str:
    """asyncpg takes postgresql:// URLs, not SQLAlchemy's postgresql+asyncpg://."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgres") else url


def create_app() -> FastAPI:
    dsn = _dsn(os.environ["BASELINE_DATABASE_URL"])
    pool_size = int(os.environ.get("BASELINE_POOL_SIZE", "10"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Same bound as the FHIR service's SQLAlchemy pool: pool_size + max_overflow.
        app.state.pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=2 * pool_size)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="bench baseline", lifespan=lifespan, openapi_url=None, docs_url=None)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    @app.post("/orders")
    async def create(request: Request) -> Response:
        document = orjson.loads(await request.body())
        document["id"] = str(uuid4())
        subject = document.get("subject")
        patient = subject.get("reference") if isinstance(subject, dict) else None
        content = orjson.dumps(document)
        async with request.app.state.pool.acquire() as connection:
            await connection.execute(_INSERT, document["id"], patient, content.decode())
        return Response(content, status_code=201, media_type=JSON)

    @app.get("/orders/{id}")
    async def read(id: str, request: Request) -> Response:
        async with request.app.state.pool.acquire() as connection:
            content = await connection.fetchval(_SELECT, id)
        if content is None:
            return Response(b'{"error":"not found"}', status_code=404, media_type=JSON)
        return Response(content.encode(), media_type=JSON)

    @app.get("/orders")
    async def search(request: Request, patient: str, _count: int = 50, after: int = 0) -> Response:
        async with request.app.state.pool.acquire() as connection:
            rows = await connection.fetch(_PAGE, patient, after, _count + 1)
        more = len(rows) > _count
        rows = rows[:_count]
        next_link = (
            f"/orders?patient={patient}&_count={_count}&after={rows[-1]['pk']}" if more else None
        )
        head = orjson.dumps({"next": next_link})[:-1]
        body = head + b',"entry":[' + b",".join(r["content"].encode() for r in rows) + b"]}"
        return Response(body, media_type=JSON)

    return app
