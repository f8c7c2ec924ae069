"""OpenAPI connector: one markdown document per operation of an OpenAPI 3.x or Swagger 2.0 spec."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from docsage.errors import ConnectorError
from docsage.ingest.connectors.folder import MAX_FILE_BYTES
from docsage.ingest.connectors.web import Fetcher, check_public_url, normalize_url
from docsage.ingest.documents import ConnectorItem, FetchedDocument, FetchFailure

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
USER_AGENT = "docsage-openapi/0.1"
MAX_DEPTH = 4
MAX_REF_HOPS = 32
MAX_SCHEMA_LINES = 150
FRAGMENT_SAFE = "/{}:@$!*'()"
CIRCULAR = "x-docsage-circular"
# Nodes that YAML aliases may add to a spec. Reusing a few anchors adds hundreds; a 518-byte "billion laughs"
# spec (seven levels of anchors, each aliasing the previous one ten times) adds 10^7 and rendered as a 72 MB
# document in 1.5 s.
MAX_ALIAS_NODES = 100_000


class AliasBudgetError(yaml.YAMLError):
    """A YAML document whose aliases stand for more than MAX_ALIAS_NODES nodes."""


class AliasBudgetLoader(yaml.SafeLoader):
    """yaml.SafeLoader that counts the nodes each alias stands for, and stops past MAX_ALIAS_NODES.

    Composing is cheap whatever the count (an alias is a reference to the anchored node); the cost comes
    later, when the renderer turns a shared subtree into text once per reference.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # id(node) -> how many nodes it stands for; ids stay unique since every node lives as long as the loader
        self._expanded_sizes: dict[int, int] = {}
        self._alias_nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if node is not None:
                children = node.value if isinstance(node, yaml.SequenceNode) else []
                if isinstance(node, yaml.MappingNode):
                    children = [child for pair in node.value for child in pair]
                sizes = self._expanded_sizes
                sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
            return node
        node = super().compose_node(parent, index)
        if node is None:
            return None
        # An alias of an anchor still being composed (a recursive structure) has no size yet: it counts once.
        self._alias_nodes += self._expanded_sizes.get(id(node), 1)
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise AliasBudgetError(
                f"its YAML aliases stand for more than {MAX_ALIAS_NODES} nodes "
                f"(passed at an alias of the anchor on line {node.start_mark.line + 1})"
            )
        return node


def parse_spec(text: str, where: str) -> dict[str, Any]:
    """The spec as a mapping; JSON is tried first because YAML rejects tab-indented JSON."""
    try:
        spec = json.loads(text)
    except ValueError:
        try:
            spec = yaml.load(text, Loader=AliasBudgetLoader)  # a SafeLoader subclass
        except AliasBudgetError as exc:
            raise ConnectorError(f"{where} is refused: {exc}; write the repeated parts out or use $ref") from None
        except (yaml.YAMLError, RecursionError) as exc:
            raise ConnectorError(f"{where} is not valid YAML or JSON: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        raise ConnectorError(f"{where} has no `paths` mapping; it is not an OpenAPI 3.x or Swagger 2.0 document")
    return spec


def one_line(text: Any) -> str:
    return " ".join(str(text).split()) if text is not None else ""


class SpecRenderer:
    """Resolves local $refs (with cycle and depth limits) and renders operations as markdown."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.swagger2 = str(spec.get("swagger", "")).startswith("2")

    def deref(self, node: Any, seen: frozenset[str] = frozenset()) -> tuple[Any, str, frozenset[str]]:
        """(target, name of the last ref followed, refs on the current path); a cycle returns a marker."""
        name = ""
        for _ in range(MAX_REF_HOPS):
            ref = node.get("$ref") if isinstance(node, dict) else None
            if not isinstance(ref, str):
                break
            name = ref.rsplit("/", 1)[-1]
            if ref in seen:
                return {CIRCULAR: name}, name, seen
            seen = seen | {ref}
            node = self._lookup(ref)
        return node, name, seen

    def _lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return {"description": f"(external reference {ref}, not resolved)"}
        node: Any = self.spec
        for token in ref[2:].split("/"):
            key = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return {"description": f"(unresolved reference {ref})"}
        return node

    def type_label(self, schema: Any, seen: frozenset[str] = frozenset(), depth: int = 0) -> str:
        schema, name, seen = self.deref(schema, seen)
        if not isinstance(schema, dict):
            return name or "any"
        if CIRCULAR in schema:
            return f"{name} (recursive)"
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = " or ".join(str(k) for k in kind)
        variants = schema.get("oneOf") or schema.get("anyOf")
        if depth >= MAX_DEPTH:
            label = str(kind or "object")
        elif kind == "array" or "items" in schema:
            label = f"array of {self.type_label(schema.get('items'), seen, depth + 1)}"
        elif isinstance(variants, list):
            label = "one of " + " | ".join(self.type_label(v, seen, depth + 1) for v in variants)
        else:
            label = str(kind or ("object" if "properties" in schema or "allOf" in schema else "any"))
        if schema.get("format"):
            label += f" ({schema['format']})"
        return f"{name} ({label})" if name and not label.startswith(name) else label

    def _properties(self, schema: dict[str, Any], seen: frozenset[str]) -> tuple[dict[str, Any], set[str]]:
        """Properties and required names of an object schema, allOf members merged in."""
        properties: dict[str, Any] = {}
        required: set[str] = set()
        for member in [schema, *(schema.get("allOf") or [])]:
            part, _, _ = self.deref(member, seen)
            if isinstance(part, dict):
                if isinstance(part.get("properties"), dict):
                    properties.update(part["properties"])
                if isinstance(part.get("required"), list):
                    required.update(str(r) for r in part["required"])
        return properties, required

    def schema_lines(self, schema: Any, seen: frozenset[str] = frozenset(), depth: int = 0) -> list[str]:
        """Nested bullets for the properties of an object schema (or of an array's items)."""
        schema, _, seen = self.deref(schema, seen)
        if not isinstance(schema, dict) or CIRCULAR in schema or depth >= MAX_DEPTH:
            return []
        if schema.get("type") == "array" or "items" in schema:
            return self.schema_lines(schema.get("items"), seen, depth)
        properties, required = self._properties(schema, seen)
        lines: list[str] = []
        for name, prop in properties.items():
            resolved, _, _ = self.deref(prop, seen)
            flags = [self.type_label(prop, seen, depth + 1)] + (["required"] if name in required else [])
            line = f"{'  ' * depth}- `{name}` ({', '.join(flags)})"
            details = self._details(resolved)
            lines.append(f"{line}: {details}" if details else line)
            lines.extend(self.schema_lines(prop, seen, depth + 1))
        if len(lines) > MAX_SCHEMA_LINES:
            lines = [*lines[:MAX_SCHEMA_LINES], f"{'  ' * depth}- … {len(lines) - MAX_SCHEMA_LINES} more lines"]
        return lines

    def _details(self, schema: Any) -> str:
        if not isinstance(schema, dict):
            return ""
        parts = [one_line(schema.get("description"))]
        if isinstance(schema.get("enum"), list):
            parts.append("One of: " + ", ".join(f"`{value}`" for value in schema["enum"]) + ".")
        if "default" in schema:
            parts.append(f"Default: `{schema['default']}`.")
        return " ".join(part for part in parts if part)

    def server_url(self, *candidates: Any) -> str:
        if self.swagger2:
            host = self.spec.get("host")
            schemes = self.spec.get("schemes") or ["https"]
            base_path = str(self.spec.get("basePath") or "")
            return f"{schemes[0]}://{host}{base_path}" if host else base_path
        for holder in (*candidates, self.spec):
            servers = holder.get("servers") if isinstance(holder, dict) else None
            if isinstance(servers, list) and servers and isinstance(servers[0], dict) and servers[0].get("url"):
                return str(servers[0]["url"])
        return ""

    def render(self, method: str, path: str, item: dict[str, Any], op: dict[str, Any], title: str) -> str:
        out = [f"# {title}", "", f"`{method.upper()} {path}`", ""]
        facts = []
        if server := self.server_url(op, item):
            facts.append(f"Server: `{server}`")
        if isinstance(op.get("tags"), list) and op["tags"]:
            facts.append("Tags: " + ", ".join(str(tag) for tag in op["tags"]))
        if op.get("operationId"):
            facts.append(f"Operation ID: `{op['operationId']}`")
        if op.get("deprecated"):
            facts.append("**Deprecated.**")
        if facts:
            out += [" · ".join(facts), ""]
        if op.get("summary") and op.get("description"):
            out += [str(op["summary"]).strip(), ""]
        if op.get("description"):
            out += [str(op["description"]).strip(), ""]
        parameters, body = self._parameters(item, op)
        if parameters:
            out += ["## Parameters", "", *parameters, ""]
        if body:
            out += ["## Request body", "", *body, ""]
        responses = self._responses(op)
        if responses:
            out += ["## Responses", "", *responses]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).rstrip() + "\n"

    def _parameters(self, item: dict[str, Any], op: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Parameter bullets and request-body lines; operation parameters override path-level ones."""
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
            param, _, _ = self.deref(raw)
            if isinstance(param, dict) and param.get("name"):
                merged[(str(param["name"]), str(param.get("in", "")))] = param
        lines: list[str] = []
        body: list[str] = []
        for (name, where), param in merged.items():
            if where == "body":
                consumes = op.get("consumes") or self.spec.get("consumes") or ["application/json"]
                body = self._content_lines({str(consumes[0]): {"schema": param.get("schema")}}, param)
                continue
            schema = param.get("schema", param)
            if not isinstance(schema, dict) and isinstance(param.get("content"), dict):
                media = next(iter(param["content"].values()), None)
                schema = media.get("schema") if isinstance(media, dict) else None
            flags = [where, self.type_label(schema)] + (["required"] if param.get("required") else [])
            details = self._details({**(schema if isinstance(schema, dict) else {}), **param})
            line = f"- `{name}` ({', '.join(flags)})"
            lines.append(f"{line}: {details}" if details else line)
        request, _, _ = self.deref(op.get("requestBody"))
        if isinstance(request, dict) and isinstance(request.get("content"), dict):
            body = self._content_lines(request["content"], request)
        return lines, body

    def _content_lines(self, content: dict[str, Any], holder: dict[str, Any]) -> list[str]:
        lines = ["Required." if holder.get("required") else "Optional.", ""] if "required" in holder else []
        if holder.get("description") and "in" not in holder:
            lines += [str(holder["description"]).strip(), ""]
        for media, spec in content.items():
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if schema is None:
                lines += [f"Content type `{media}`.", ""]
                continue
            lines += [f"Content type `{media}`: {self.type_label(schema)}", ""]
            if nested := self.schema_lines(schema):
                lines += [*nested, ""]
        return lines

    def _responses(self, op: dict[str, Any]) -> list[str]:
        responses = op.get("responses")
        if not isinstance(responses, dict):
            return []
        lines: list[str] = []
        for status, raw in responses.items():
            response, _, _ = self.deref(raw)
            if not isinstance(response, dict):
                continue
            lines += [f"### {status}", ""]
            if response.get("description"):
                lines += [str(response["description"]).strip(), ""]
            if self.swagger2 and response.get("schema") is not None:
                produces = op.get("produces") or self.spec.get("produces") or ["application/json"]
                lines += self._content_lines({str(produces[0]): {"schema": response["schema"]}}, {})
            elif isinstance(response.get("content"), dict):
                lines += self._content_lines(response["content"], {})
        return lines


class OpenAPIConnector:
    """Reads a spec from a file or an http(s) URL; each operation becomes one document."""

    def __init__(self, location: str, *, allow_private: bool = False, timeout_s: float = 20) -> None:
        self.location = location
        self.allow_private = allow_private
        self.timeout_s = timeout_s

    def iter_documents(self) -> Iterator[ConnectorItem]:
        data, base = self._load()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConnectorError(f"{base} is not UTF-8 text") from None
        renderer = SpecRenderer(parse_spec(text, base))
        used: set[str] = set()
        for path, raw_item in renderer.spec["paths"].items():
            item, _, _ = renderer.deref(raw_item)
            if not isinstance(item, dict):
                continue
            for method in METHODS:
                op = item.get(method)
                if not isinstance(op, dict):
                    continue
                op_id = str(op.get("operationId") or "")
                label = one_line(op.get("summary")) or op_id
                title = f"{method.upper()} {path}" + (f" — {label}" if label else "")
                url = f"{base}#operation/{quote(op_id, safe=FRAGMENT_SAFE)}"
                if not op_id or url in used:
                    url = f"{base}#{method.upper()}-{quote(str(path), safe=FRAGMENT_SAFE)}"
                used.add(url)
                markdown = renderer.render(method, str(path), item, op, title)
                meta = {"method": method.upper(), "path": str(path), "operation_id": op_id}
                yield FetchedDocument(url=url, raw=markdown.encode(), fmt="markdown", title=title, meta=meta)

    def _load(self) -> tuple[bytes, str]:
        """The spec's bytes and the URL citations are built on."""
        if self.location.startswith(("http://", "https://")):
            url = normalize_url(self.location)
            if url is None:
                raise ConnectorError(f"not a usable URL: {self.location!r}")
            check_public_url(url, allow_private=self.allow_private)
            with closing(
                Fetcher(allow_private=self.allow_private, timeout_s=self.timeout_s, user_agent=USER_AGENT)
            ) as f:
                result = f.get(url)
            if isinstance(result, FetchFailure):
                raise ConnectorError(f"cannot fetch the OpenAPI spec {url}: {result.reason}")
            if not 200 <= result.status < 300:
                raise ConnectorError(f"cannot fetch the OpenAPI spec {url}: HTTP {result.status}")
            return result.body, result.url
        location = self.location
        if location.startswith("file://"):
            location = unquote(urlsplit(location).path)
        path = Path(location).expanduser().resolve()
        if not path.is_file():
            raise ConnectorError(f"OpenAPI spec not found: {path}")
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ConnectorError(f"OpenAPI spec {path} is over the {MAX_FILE_BYTES}-byte limit")
            return path.read_bytes(), path.as_uri()
        except OSError as exc:
            raise ConnectorError(f"cannot read OpenAPI spec {path}: {exc.strerror or exc}") from None
