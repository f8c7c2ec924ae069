"""The OpenAPI connector on OpenAPI 3 YAML and Swagger 2 JSON specs, from files and over loopback HTTP."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import Cli, write_docs
from docsage.config import Settings
from docsage.errors import ConnectorError
from docsage.ingest.connectors.openapi import OpenAPIConnector
from docsage.ingest.connectors.registry import build_connector
from docsage.ingest.documents import FetchedDocument

PETSTORE_V3 = """\
openapi: 3.0.3
info: {title: Petstore, version: "1.0"}
servers:
  - url: https://petstore.example.com/v1
paths:
  /pets:
    get:
      summary: List all pets
      operationId: listPets
      tags: [pets]
      parameters:
        - name: limit
          in: query
          description: How many items to return at one time (max 100)
          schema: {type: integer, format: int32}
      responses:
        "200":
          description: A paged array of pets
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Pet"}}
        default:
          $ref: "#/components/responses/Error"
    post:
      operationId: createPet
      description: Adds a pet to the store.
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewPet"}
      responses:
        "201": {description: Created}
  /pets/{petId}:
    parameters:
      - $ref: "#/components/parameters/PetId"
    get:
      summary: Find pet by ID
      operationId: showPetById
      responses:
        "200":
          description: Expected response to a valid request
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
    delete:
      responses:
        "204": {description: Deleted}
components:
  parameters:
    PetId:
      name: petId
      in: path
      required: true
      description: The id of the pet to retrieve
      schema: {type: string}
  responses:
    Error:
      description: Unexpected error
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Error"}
  schemas:
    NewPet:
      type: object
      required: [name]
      properties:
        name: {type: string, description: The pet's name}
        status: {type: string, enum: [available, sold]}
        owner: {$ref: "#/components/schemas/Owner"}
    Pet:
      allOf:
        - $ref: "#/components/schemas/NewPet"
        - type: object
          required: [id]
          properties:
            id: {type: integer, format: int64}
            children: {type: array, items: {$ref: "#/components/schemas/Pet"}}
    Owner:
      type: object
      properties:
        email: {type: string, format: email}
        address:
          type: object
          properties:
            postcode: {type: string}
    Error:
      type: object
      required: [code, message]
      properties:
        code: {type: integer}
        message: {type: string}
"""

SWAGGER_V2 = {
    "swagger": "2.0",
    "info": {"title": "Store", "version": "1"},
    "host": "store.example.com",
    "basePath": "/api",
    "schemes": ["https"],
    "paths": {
        "/orders": {
            "post": {
                "summary": "Place an order",
                "operationId": "placeOrder",
                "parameters": [
                    {"name": "order", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Order"}},
                    {"name": "X-Request-Id", "in": "header", "type": "string", "description": "Tracing id"},
                ],
                "responses": {"200": {"description": "The order", "schema": {"$ref": "#/definitions/Order"}}},
            }
        }
    },
    "definitions": {
        "Order": {
            "type": "object",
            "required": ["quantity"],
            "properties": {"quantity": {"type": "integer"}, "shipDate": {"type": "string", "format": "date-time"}},
        }
    },
}


def documents(location: str, **options: bool) -> dict[str, FetchedDocument]:
    items = list(OpenAPIConnector(location, **options).iter_documents())
    assert all(isinstance(item, FetchedDocument) for item in items)
    return {item.title: item for item in items if isinstance(item, FetchedDocument)}


def test_openapi3_yaml_one_document_per_operation(tmp_path: Path) -> None:
    spec = tmp_path / "petstore.yaml"
    spec.write_text(PETSTORE_V3)
    docs = documents(str(spec))
    assert sorted(docs) == [
        "DELETE /pets/{petId}",
        "GET /pets — List all pets",
        "GET /pets/{petId} — Find pet by ID",
        "POST /pets — createPet",
    ]
    base = spec.resolve().as_uri()
    assert docs["GET /pets — List all pets"].url == f"{base}#operation/listPets"
    assert docs["DELETE /pets/{petId}"].url == f"{base}#DELETE-/pets/{{petId}}"
    assert {doc.fmt for doc in docs.values()} == {"markdown"}

    listing = docs["GET /pets — List all pets"].raw.decode()
    assert listing.startswith("# GET /pets — List all pets\n")
    assert "Server: `https://petstore.example.com/v1`" in listing and "Tags: pets" in listing
    assert "## Parameters" in listing and "- `limit` (query, integer (int32))" in listing
    assert "array of Pet" in listing and "### default" in listing
    assert "`message` (string, required)" in listing

    show = docs["GET /pets/{petId} — Find pet by ID"].raw.decode()
    assert "- `petId` (path, string, required): The id of the pet to retrieve" in show
    assert "`id` (integer (int64), required)" in show
    assert "`children` (array of Pet (recursive))" in show
    assert "`postcode` (string)" in show

    create = docs["POST /pets — createPet"].raw.decode()
    assert "## Request body" in create and "Required." in create
    assert "Content type `application/json`: NewPet (object)" in create
    assert "- `name` (string, required): The pet's name" in create
    assert "`status` (string): One of: `available`, `sold`." in create
    assert "`email` (string (email))" in create


def test_swagger2_json(tmp_path: Path) -> None:
    spec = tmp_path / "store.json"
    spec.write_text(json.dumps(SWAGGER_V2, indent="\t"))
    docs = documents(str(spec))
    assert list(docs) == ["POST /orders — Place an order"]
    markdown = docs["POST /orders — Place an order"].raw.decode()
    assert "Server: `https://store.example.com/api`" in markdown
    assert "- `X-Request-Id` (header, string): Tracing id" in markdown
    assert "## Request body" in markdown and "`quantity` (integer, required)" in markdown
    assert "`shipDate` (string (date-time))" in markdown


def test_invalid_specs_raise(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.0\npaths: [unclosed\n")
    with pytest.raises(ConnectorError, match="not valid YAML or JSON"):
        documents(str(broken))
    no_paths = tmp_path / "nopaths.yaml"
    no_paths.write_text("openapi: 3.0.0\ninfo: {title: x}\n")
    with pytest.raises(ConnectorError, match="no `paths`"):
        documents(str(no_paths))
    with pytest.raises(ConnectorError, match="not found"):
        documents(str(tmp_path / "missing.yaml"))


@pytest.fixture
def spec_server() -> Iterator[str]:
    body = PETSTORE_V3.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/old.yaml":
                self.send_response(301)
                self.send_header("Location", "/openapi.yaml")
                self.end_headers()
                return
            self.send_response(200 if self.path == "/openapi.yaml" else 404)
            self.send_header("Content-Type", "application/yaml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_spec_over_http(spec_server: str) -> None:
    docs = documents(f"{spec_server}/old.yaml", allow_private=True)
    assert len(docs) == 4
    assert docs["GET /pets — List all pets"].url == f"{spec_server}/openapi.yaml#operation/listPets"
    with pytest.raises(ConnectorError, match="--allow-private"):
        documents(f"{spec_server}/openapi.yaml")
    with pytest.raises(ConnectorError, match="HTTP 404"):
        documents(f"{spec_server}/missing.yaml", allow_private=True)


def test_registry_builds_the_openapi_connector(tmp_path: Path) -> None:
    spec = tmp_path / "petstore.yaml"
    spec.write_text(PETSTORE_V3)
    connector = build_connector("openapi", str(spec), {}, Settings())
    assert isinstance(connector, OpenAPIConnector) and not connector.allow_private
    assert len(list(connector.iter_documents())) == 4


# --- YAML aliases ("billion laughs") -------------------------------------------------------------------------


def laughs(levels: int) -> str:
    """A spec of about 500 bytes whose last anchor stands for 10**levels strings: each anchor aliases the
    previous one ten times. Seven levels rendered as a 72 MB document in 1.5 s before aliases were counted."""
    names = "abcdefghij"[:levels]
    anchors = ["  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    anchors += [f"  - &{name} [{', '.join([f'*{prev}'] * 10)}]" for prev, name in itertools.pairwise(names)]
    return "\n".join(
        [
            "openapi: 3.0.3",
            "info: {title: Laughs, version: '1'}",
            "x-laughs:",
            *anchors,
            "paths:",
            "  /laughs:",
            "    get:",
            "      summary: Laugh",
            f"      parameters: [{{name: q, in: query, schema: {{type: array, default: *{names[-1]}}}}}]",
            "      responses: {'200': {description: OK}}",
            "",
        ]
    )


# Anchors as people use them: one error response and one parameter shared by several operations.
SHARED_ANCHORS = """\
openapi: 3.0.3
info: {title: Shared, version: "1"}
x-common:
  page: &page {name: page, in: query, description: Page number, schema: {type: integer, default: 1}}
  error: &error
    description: Something went wrong
    content:
      application/json:
        schema: {type: object, properties: {code: {type: integer}, message: {type: string}}}
paths:
  /files:
    get:
      summary: List files
      parameters: [*page]
      responses: {"200": {description: Files}, default: *error}
  /vaults:
    get:
      summary: List vaults
      parameters: [*page]
      responses:
        "200": {description: Vaults}
        default:
          <<: *error
          description: Vault listing failed
"""


def test_alias_bomb_is_refused_fast_with_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "laughs.yaml"
    spec.write_text(laughs(7))
    assert spec.stat().st_size < 600
    start = time.perf_counter()
    with pytest.raises(ConnectorError, match=r"laughs\.yaml is refused: its YAML aliases stand for more than") as exc:
        documents(str(spec))
    elapsed = time.perf_counter() - start
    assert elapsed < 0.2, f"refusing the spec took {elapsed:.2f} s"
    assert "use $ref" in exc.value.message


def test_specs_reusing_a_few_anchors_still_load(tmp_path: Path) -> None:
    spec = tmp_path / "shared.yaml"
    spec.write_text(SHARED_ANCHORS)
    docs = documents(str(spec))
    assert sorted(docs) == ["GET /files — List files", "GET /vaults — List vaults"]
    for title in docs:
        markdown = docs[title].raw.decode()
        assert "- `page` (query, integer): Page number Default: `1`." in markdown
        assert "`message` (string)" in markdown
    assert "Something went wrong" in docs["GET /files — List files"].raw.decode()
    assert "Vault listing failed" in docs["GET /vaults — List vaults"].raw.decode()


def test_an_alias_bomb_replacing_a_spec_loses_nothing_already_indexed(tmp_path: Path, run_cli: Cli) -> None:
    """Through the real CLI: the bombed source fails fast with the error, every other document stays indexed."""
    project = run_cli.json("project", "create", "--name", "Skyloom")["id"]
    spec = tmp_path / "petstore.yaml"
    spec.write_text(PETSTORE_V3)
    add = ("source", "add", "--project", project)
    run_cli.json(*add, "--type", "folder", "--path", write_docs(tmp_path), "--name", "manual")
    run_cli.json(*add, "--type", "openapi", "--path", spec, "--name", "petstore")
    first = run_cli.json("ingest", "--project", project)
    assert [(s["source"], s["status"], s["added"]) for s in first] == [
        ("manual", "succeeded", 5),
        ("petstore", "succeeded", 4),
    ]
    before = indexed_urls(run_cli)

    spec.write_text(laughs(6))  # a million strings
    result = run_cli("ingest", "--project", project, "--json", timeout=120)
    assert result.returncode == 1, result.stderr
    summaries = {s["source"]: s for s in json.loads(result.stdout)}
    assert summaries["manual"]["status"] == "succeeded" and summaries["manual"]["unchanged"] == 5
    bombed = summaries["petstore"]
    assert bombed["status"] == "failed"
    assert f"{spec.resolve().as_uri()} is refused: its YAML aliases stand for more than" in bombed["error"]
    assert bombed["seconds"] < 1.0
    assert indexed_urls(run_cli) == before


def indexed_urls(cli: Cli) -> set[str]:
    with closing(cli.connect()) as conn:
        return {url for (url,) in conn.execute("SELECT url FROM documents")}
