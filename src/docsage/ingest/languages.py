"""The languages indexed as code: display names, fences, and just enough grammar to find their definitions."""

from __future__ import annotations

import re
from dataclasses import dataclass

from docsage.errors import InvalidInputError

SMALL_CONFIG_LINES = 40  # a config file (or nested key) up to this many lines is one block: splitting adds nothing


def _p(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


# Lines at a block's own indentation that continue the statement before them rather than start a new one.
CONTINUATION = _p(
    r"^(?:[}\])>{.,;:?+*/|&=-]|(?:else|elif|elsif|except|finally|catch|rescue|ensure|when|where|then|do|end|fi|done"
    r"|esac|in)\b)"
)
IMPORT = _p(
    r"^(?:import\b|from\s+\S+\s+import\b|export\s+(?:\*|\{[^}]*\})\s+from\b|#\s*(?:include|import)\b|using\s+[\w.=\s]+;"
    r"|use\s+[\w:{}, *\\]+;|package\s+[\w.]+;?\s*$|(?:require|include)(?:_once)?\b|extern\s+crate\b|<\?php|mod\s+\w+;)"
)
CONFIG_KEY = _p(r"^[\"']?([\w.$@/-]+)[\"']?\s*[:=]")
RETURN_TYPE = _p(r"^[\w\s*&:<>,]+$")
COMMENT_MARKERS = _p(r"^\s*(?:/\*+|\*+/|\*+|//+!?|#+!?|--+)\s?")
XML_DOC_TAGS = _p(r"</?(?:summary|remarks|returns|value|para)>")  # C#'s /// markup around the text
MEMBER_EXCLUDED = (
    r"(?!(?:return|if|for|while|switch|catch|else|new|throw|do|try|using|lock|foreach|await|yield|case|goto|sizeof"
    r"|typeof|delete|assert|function)\b)"
)
C_MEMBER = _p(rf"^{MEMBER_EXCLUDED}[\w\s<>\[\],.?*&:~@]*?(?<![\w.])(?P<name>~?[A-Za-z_]\w*)\s*\(")
JS_MEMBER = _p(
    rf"^(?:(?:public|private|protected|static|readonly|abstract|override|declare|async|get|set)\s+)*\*?"
    rf"{MEMBER_EXCLUDED}(?P<name>#?[\w$]+)\s*(?:<[^>]*>)?\s*\("
)
JVM_MODIFIERS = (
    r"(?:(?:public|private|protected|internal|static|final|abstract|sealed|partial|open|override|virtual|async"
    r"|readonly|extern|unsafe|new|synchronized|native|default|strictfp|data|inner|enum|annotation|value|companion"
    r"|suspend|inline|operator|infix|tailrec|external|lateinit|const|expect|actual)\s+)*"
)

SLASH_COMMENT = _p(r"^//")
AT_ATTRIBUTE = _p(r"^@")


@dataclass(frozen=True)
class Grammar:
    """Just enough of a language to find where its definitions start and end, by indentation and keywords."""

    definitions: tuple[re.Pattern[str], ...]  # at a block's own indentation; groups `kind` (optional) and `name`
    comment: re.Pattern[str] = SLASH_COMMENT
    block_comment: tuple[str, str] | None = ("/*", "*/")
    attribute: re.Pattern[str] | None = AT_ATTRIBUTE  # decorators and annotations: kept with what follows
    member: re.Pattern[str] | None = C_MEMBER  # definitions without a keyword (methods), inside containers
    member_at_top: bool = False  # C and C++ functions have no keyword either
    containers: frozenset[str] = frozenset({"class", "interface", "enum", "record", "struct", "object", "namespace"})
    opens: str = "{"  # how a container's header ends: "{", ":" (Python) or "" (the definition line itself)
    kindless: str = "{name}()"  # the heading of a definition matched without a keyword
    upper_kind: bool = False
    to_next_definition: bool = False  # SQL, TOML: what follows a definition at its indentation still belongs to it
    split_lines: int = 0  # containers up to this many lines stay whole
    config: bool = False  # YAML, TOML, JSON: small files stay one block, keys are grouped


HASH_COMMENT = _p(r"^#(?!!)")  # not a #! line
PYTHON = Grammar(
    (_p(r"^(?P<kind>(?:async\s+)?def|class)\s+(?P<name>\w+)"),),
    comment=HASH_COMMENT,
    block_comment=None,
    member=None,
    containers=frozenset({"class"}),
    opens=":",
)
JAVASCRIPT = Grammar(
    (
        _p(
            r"^(?:export\s+(?:default\s+)?)?(?:declare\s+)?(?:abstract\s+)?(?P<kind>(?:async\s+)?function\*?|class"
            r"|interface|type|enum|namespace|const|let|var)\s+(?P<name>[\w$]+)"
        ),
    ),
    member=JS_MEMBER,
    containers=frozenset({"class", "namespace"}),
)
GO = Grammar((_p(r"^(?P<kind>func|type|const|var)\b\s*(?P<name>\([^)]*\)\s*\w+|\w+)?"),), member=None)
RUST = Grammar(
    (
        _p(
            r"^(?:pub(?:\([^)]*\))?\s+)?(?:(?:default|async|const|unsafe|extern(?:\s+\"[^\"]*\")?)\s+)*"
            r"(?P<kind>fn|struct|enum|trait|impl|mod|type|const|static|union|macro_rules!)(?:\s+|(?=<))"
            r"(?P<name>[^{;=(]*)"
        ),
    ),
    attribute=_p(r"^#!?\["),
    member=None,
    containers=frozenset({"impl", "trait", "mod"}),
)
JVM = Grammar(  # Java, Kotlin, C#
    (
        _p(
            rf"^(?:@\w+(?:\([^)]*\))?\s+)*{JVM_MODIFIERS}(?P<kind>class|interface|enum|record|struct|object"
            r"|namespace|fun|val|var|typealias|@interface)\s+(?:<[^>]*>\s*)?(?P<name>[\w.]+)"
        ),
    ),
    attribute=_p(r"^(?:@|\[\w)"),
)
C_FAMILY = Grammar(
    (
        _p(
            r"^(?:template\s*<[^>]*>\s*)?(?:typedef\s+)?(?:(?:static|inline|extern|constexpr)\s+)*"
            r"(?P<kind>struct|class|union|enum(?:\s+class)?|namespace)\s+(?P<name>\w+)\b(?!\s*[\w*&]+\s*[;(=])"
        ),
        _p(r"^(?P<kind>#\s*define)\s+(?P<name>\w+)"),
    ),
    attribute=None,
    member_at_top=True,
)
PHP = Grammar(
    (
        _p(
            r"^(?:(?:abstract|final|readonly|public|private|protected|static)\s+)*"
            r"(?P<kind>function|class|interface|trait|enum)\s+&?(?P<name>\w+)"
        ),
    ),
    comment=_p(r"^(?://|#(?!\[))"),
    attribute=_p(r"^#\["),
    containers=frozenset({"class", "interface", "trait", "enum"}),
)
RUBY = Grammar(
    (_p(r"^(?P<kind>def|class|module)\s+(?P<name>(?:self\.)?[\w:.]+[?!=]?)"),),
    comment=HASH_COMMENT,
    block_comment=None,
    attribute=None,
    member=None,
    containers=frozenset({"class", "module"}),
    opens="",
)
SHELL = Grammar(
    (_p(r"^(?:function\s+(?=[\w.:-]+)|(?=[\w.:-]+\s*\(\s*\)))(?P<name>[\w.:-]+)"),),
    comment=HASH_COMMENT,
    block_comment=None,
    attribute=None,
    member=None,
)
SQL = Grammar(
    (
        _p(
            r"^(?P<kind>(?:CREATE|ALTER)(?:\s+OR\s+REPLACE)?(?:\s+(?:TEMP|TEMPORARY|UNIQUE|MATERIALIZED|UNLOGGED"
            r"|VIRTUAL))*\s+(?:TABLE|VIEW|INDEX|FUNCTION|PROCEDURE|TRIGGER|TYPE|SEQUENCE|SCHEMA|EXTENSION|DOMAIN"
            r"|POLICY))\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(?P<name>[\w.\"`\[\]]+)",
            re.IGNORECASE,
        ),
    ),
    comment=_p(r"^--"),
    attribute=None,
    member=None,
    upper_kind=True,
    to_next_definition=True,
)
YAML = Grammar(  # a key whose value is the nested block below it
    (_p(r"^(?P<name>\"[^\"]*\"|'[^']*'|[^\s#'\"\-?:](?:[^#:]|:(?!\s))*?)\s*:\s*(?:[|>][-+0-9]*)?\s*(?:#.*)?$"),),
    comment=HASH_COMMENT,
    block_comment=None,
    attribute=None,
    member=None,
    containers=frozenset({"*"}),
    opens="",
    kindless="{name}",
    split_lines=SMALL_CONFIG_LINES,
    config=True,
)
TOML = Grammar(
    (_p(r"^\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(?:#.*)?$"),),
    comment=HASH_COMMENT,
    block_comment=None,
    attribute=None,
    member=None,
    kindless="[{name}]",
    to_next_definition=True,
    config=True,
)
JSON = Grammar(  # a key whose value is an object or array opened on its line
    (_p(r"^(?P<name>\"(?:[^\"\\]|\\.)*\")\s*:\s*[\[{]\s*$"),),
    attribute=None,
    member=None,
    containers=frozenset({"*"}),
    opens="",
    kindless="{name}",
    split_lines=SMALL_CONFIG_LINES,
    config=True,
)


@dataclass(frozen=True)
class Language:
    name: str  # as titles show it: "Python"
    fence: str  # the fenced block's info string
    grammar: Grammar


LANGUAGES: dict[str, Language] = {
    "python": Language("Python", "python", PYTHON),
    "javascript": Language("JavaScript", "javascript", JAVASCRIPT),
    "typescript": Language("TypeScript", "typescript", JAVASCRIPT),
    "tsx": Language("TypeScript JSX", "tsx", JAVASCRIPT),
    "go": Language("Go", "go", GO),
    "rust": Language("Rust", "rust", RUST),
    "java": Language("Java", "java", JVM),
    "kotlin": Language("Kotlin", "kotlin", JVM),
    "csharp": Language("C#", "csharp", JVM),
    "c": Language("C", "c", C_FAMILY),
    "cpp": Language("C++", "cpp", C_FAMILY),
    "c-header": Language("C/C++ header", "c", C_FAMILY),
    "php": Language("PHP", "php", PHP),
    "ruby": Language("Ruby", "ruby", RUBY),
    "shell": Language("Shell", "bash", SHELL),
    "sql": Language("SQL", "sql", SQL),
    "yaml": Language("YAML", "yaml", YAML),
    "toml": Language("TOML", "toml", TOML),
    "json": Language("JSON", "json", JSON),
}


def language(fmt: str) -> Language:
    """The language of a `code:<language>` format."""
    try:
        return LANGUAGES[fmt.removeprefix("code:")]
    except KeyError:
        raise InvalidInputError(f"no parser for format {fmt!r}") from None


def code_title(path: str, fmt: str) -> str:
    """A code document's title: its path in the source and its language, e.g. `sdk/client.py (Python)`."""
    return f"{path} ({language(fmt).name})"


def _clean_name(kind: str, name: str) -> str:
    name = " ".join(re.sub(r"[\"'`\[\]]", "", name).split())
    if name.startswith("(") or not kind:  # a Go receiver, or a name its pattern already cut exactly
        return name[:80]
    if kind == "impl":
        while re.search(r"<[^<>]*>", name):
            name = re.sub(r"<[^<>]*>", "", name)
        return " ".join(name.split(" where ")[0].split())[:80]
    name = re.sub(r"^<[^>]*>\s*", "", name)
    match = re.match(r"[\w$#~.:!?=-]+", name)
    return (match.group() if match else name).rstrip(":")[:80]


def heading(match: re.Match[str], grammar: Grammar) -> tuple[str, str]:
    """(heading, kind) of a definition: `class Client`, `fn send`, `CREATE TABLE users`, `send()`."""
    groups = match.groupdict()
    kind = " ".join((groups.get("kind") or "").split())
    kind = kind.upper() if grammar.upper_kind else kind
    name = _clean_name(kind, groups.get("name") or "")
    if not kind:
        return grammar.kindless.format(name=name), ""
    return (f"{kind} {name}" if name else kind), kind.split()[-1].lower()


def definition(stripped: str, grammar: Grammar, depth: int) -> re.Match[str] | None:
    match = next((m for p in grammar.definitions if (m := p.match(stripped))), None)
    if match is None and grammar.member and (depth or grammar.member_at_top):
        match = grammar.member.match(stripped)
    return match
