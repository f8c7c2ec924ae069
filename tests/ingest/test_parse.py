"""Parsers: markdown, HTML, reStructuredText, text and PDF into titled sections of blocks."""

from __future__ import annotations

import pytest

from conftest import minimal_pdf
from docsage.errors import InvalidInputError
from docsage.ingest.parse import ParsedDocument, parse, parse_html, parse_markdown, rst_to_markdown


def paths(doc: ParsedDocument) -> list[tuple[str, ...]]:
    return [s.heading_path for s in doc.sections]


def section(doc: ParsedDocument, *heading_path: str) -> list[tuple[str, bool]]:
    [found] = [s for s in doc.sections if s.heading_path == heading_path]
    return [(b.text, b.is_code) for b in found.blocks]


def all_text(doc: ParsedDocument) -> str:
    return "\n".join(" ".join(s.heading_path) + "\n" + "\n".join(b.text for b in s.blocks) for s in doc.sections)


# markdown ---------------------------------------------------------------------------------------------------

NESTED = """\
Intro before any heading.

# Skyloom CLI

The command-line client.

## Install ##

Use pip.

### On Windows

Use the installer.

## Configure

Set variables.

# Reference

All commands.
"""


def test_markdown_headings_become_heading_paths() -> None:
    doc = parse_markdown(NESTED, "file:///docs/cli.md")
    assert paths(doc) == [
        (),
        ("Skyloom CLI",),
        ("Skyloom CLI", "Install"),  # closing hashes are not part of the heading
        ("Skyloom CLI", "Install", "On Windows"),
        ("Skyloom CLI", "Configure"),  # a sibling pops the deeper levels
        ("Reference",),
    ]
    assert section(doc) == [("Intro before any heading.", False)]
    assert section(doc, "Skyloom CLI", "Install", "On Windows") == [("Use the installer.", False)]
    assert doc.title == "Skyloom CLI"  # the first H1


def test_fenced_code_is_one_block_and_its_comments_are_not_headings() -> None:
    text = """\
# Setup

```bash
# create a virtual environment
python -m venv .venv

# install the client
pip install skyloom-cli
```

~~~python
## not a heading either
print("hi")
~~~

After the code.
"""
    doc = parse_markdown(text)
    assert paths(doc) == [("Setup",)]
    blocks = section(doc, "Setup")
    assert blocks == [
        (
            "```bash\n# create a virtual environment\npython -m venv .venv\n\n# install the client\n"
            "pip install skyloom-cli\n```",
            True,
        ),
        ('~~~python\n## not a heading either\nprint("hi")\n~~~', True),
        ("After the code.", False),
    ]


def test_front_matter_gives_the_title_and_is_not_content() -> None:
    text = '---\ntitle: "Installing Skyloom"\nsidebar_position: 2\n---\n# Install\n\nRun pip.\n'
    doc = parse_markdown(text, "file:///docs/install.md")
    assert doc.title == "Installing Skyloom"
    assert "sidebar_position" not in all_text(doc)
    assert paths(doc) == [("Install",)]


def test_title_falls_back_to_the_url_and_a_hint_wins() -> None:
    assert parse_markdown("Just a paragraph.", "file:///docs/getting-started.md").title == "Getting started"
    assert parse_markdown("Just a paragraph.", "https://docs.skyloom.dev/guides/rate_limits/").title == "Rate limits"
    assert parse_markdown("# Heading\n\nText.", "file:///x.md", title_hint="From connector").title == "From connector"


def test_setext_headings() -> None:
    text = (
        "Skyloom Guide\n=============\n\nWelcome.\n\nInstallation\n------------\n\nRun pip.\n\nUsage\n---\n\nRun it.\n"
    )
    doc = parse_markdown(text)
    assert paths(doc) == [("Skyloom Guide",), ("Skyloom Guide", "Installation"), ("Skyloom Guide", "Usage")]
    assert doc.title == "Skyloom Guide"
    assert section(doc, "Skyloom Guide", "Installation") == [("Run pip.", False)]


def test_mdx_imports_are_dropped() -> None:
    doc = parse_markdown("import Tabs from '@theme/Tabs';\n\n# Page\n\nBody text.\n")
    assert "import Tabs" not in all_text(doc)
    assert section(doc, "Page") == [("Body text.", False)]


# HTML -------------------------------------------------------------------------------------------------------

PAGE = """\
<!DOCTYPE html>
<html>
<head><title>Webhooks - Skyloom Docs</title><style>.x { color: red }</style></head>
<body>
<header class="site-header"><a href="/">Skyloom</a> Pricing Careers</header>
<nav><ul><li>Getting started</li><li>Marketplace</li></ul></nav>
<div class="sidebar">Sidebar quicklinks</div>
<div class="breadcrumbs">Docs / Webhooks</div>
<main>
<h1>Webhooks</h1>
<p>Skyloom sends a webhook when a file changes.</p>
<h2>Verifying signatures</h2>
<p>Compare the <code>X-Skyloom-Signature</code> header with your digest.</p>
<pre><code class="language-python">import hmac

def verify(body, secret, signature):
    return hmac.compare_digest(sign(body, secret), signature)
</code></pre>
<script>trackPageView("webhooks")</script>
</main>
<aside>Was this page helpful?</aside>
<footer class="footer">Copyright 2024 Skyloom Labs. Imprint.</footer>
</body>
</html>
"""


def test_html_keeps_main_content_headings_and_code_and_drops_chrome() -> None:
    doc = parse(PAGE.encode(), "html", "https://docs.skyloom.dev/webhooks")
    assert doc.title == "Webhooks"
    assert paths(doc) == [("Webhooks",), ("Webhooks", "Verifying signatures")]
    text = all_text(doc)
    for chrome in ("Pricing", "Careers", "Marketplace", "Sidebar quicklinks", "Docs / Webhooks", "helpful",
                   "Copyright", "Imprint", "trackPageView", "color: red"):  # fmt: skip
        assert chrome not in text, f"boilerplate {chrome!r} leaked into the content"
    code = [b for b in section(doc, "Webhooks", "Verifying signatures") if b[1]]
    assert len(code) == 1
    assert code[0][0].startswith("```python\n")
    assert "import hmac\n\ndef verify(body, secret, signature):" in code[0][0]
    assert "`X-Skyloom-Signature`" in text


def test_html_without_main_uses_the_content_container() -> None:
    raw = (
        "<html><body><div id='sidebar'>Side menu</div><div class='content'><h2>Limits</h2><p>600 per minute.</p>"
        "</div><div class='footer'>Foot note</div></body></html>"
    )
    doc = parse_html(raw, "https://docs.skyloom.dev/limits.html")
    assert paths(doc) == [("Limits",)]
    assert section(doc, "Limits") == [("600 per minute.", False)]
    assert "Side menu" not in all_text(doc)
    assert "Foot note" not in all_text(doc)


SPHINX_PAGE = """\
<html><head><title>Configuration &#8212; Skyloom 1.0 documentation</title></head><body>
<div class="related" role="navigation"><ul><li>index</li><li>next</li></ul></div>
<div class="document"><div class="body" role="main">
<section id="configuration">
<h1>Configuration<a class="headerlink" href="#configuration" title="Permalink to this heading">¶</a></h1>
<p>Skyloom reads settings from the environment.</p>
<section id="environment">
<h2>Environment variables<a class="headerlink" href="#environment" title="Permalink to this heading">¶</a></h2>
<p>Set SKYLOOM_REGION to choose the data region.</p>
</section></section></div></div>
<div class="sphinxsidebar" role="navigation"><h3>Navigation</h3></div>
<div class="footer">&#169;2024, Skyloom. Created using Sphinx.</div>
</body></html>
"""


def test_html_heading_permalinks_are_not_part_of_headings() -> None:
    """Sphinx (and many generators) append a ¶ permalink to every heading; it is chrome, not heading text."""
    doc = parse(SPHINX_PAGE.encode(), "html", "https://docs.skyloom.dev/configuration.html")
    assert doc.title == "Configuration"
    assert paths(doc) == [("Configuration",), ("Configuration", "Environment variables")]
    assert "Permalink" not in all_text(doc)


DOCUSAURUS_PAGE = """\
<html><head><title>Installation | Skyloom</title></head><body>
<nav class="navbar">Skyloom Docs Blog GitHub</nav>
<div class="main-wrapper"><aside class="theme-doc-sidebar-container">Intro Installation Configuration</aside>
<main><article><div class="theme-doc-markdown markdown">
<header><h1>Installation</h1></header>
<p>Install Skyloom with pip on Python 3.11 or newer.</p>
<h2>Verify</h2><p>Run skyloom --version.</p>
</div><footer class="theme-doc-footer">Edit this page</footer></article></main></div>
<footer class="footer">Copyright 2024 Skyloom</footer>
</body></html>
"""


def test_html_h1_inside_an_article_header_is_kept() -> None:
    """Docusaurus wraps each page's H1 in a <header> inside the article: that header is content, not site chrome."""
    doc = parse(DOCUSAURUS_PAGE.encode(), "html", "https://docs.skyloom.dev/install")
    assert doc.title == "Installation"
    assert paths(doc) == [("Installation",), ("Installation", "Verify")]
    assert "Edit this page" not in all_text(doc)
    assert "Intro Installation Configuration" not in all_text(doc)


# reStructuredText -------------------------------------------------------------------------------------------

RST = """\
=======
Skyloom
=======

Skyloom keeps folders in sync.

Install
=======

Run this::

    pip install skyloom-cli
    skyloom --version

Or with Python:

.. code-block:: python
   :linenos:

   import skyloom
   skyloom.sync("~/vault")

Usage
=====

Daily use.

Conflicts
---------

Skyloom keeps both copies.

::

    vault/report (conflict).txt
"""


def test_rst_headings_follow_adornment_order() -> None:
    doc = parse(RST.encode(), "rst", "file:///docs/index.rst")
    assert doc.title == "Skyloom"
    assert paths(doc) == [
        ("Skyloom",),
        ("Skyloom", "Install"),
        ("Skyloom", "Usage"),
        ("Skyloom", "Usage", "Conflicts"),
    ]


def test_rst_literal_and_code_blocks_become_code() -> None:
    doc = parse(RST.encode(), "rst", "file:///docs/index.rst")
    install = section(doc, "Skyloom", "Install")
    assert install == [
        ("Run this:", False),  # "::" at the end of a paragraph reads as ":"
        ("```\npip install skyloom-cli\nskyloom --version\n```", True),
        ("Or with Python:", False),
        ('```python\nimport skyloom\nskyloom.sync("~/vault")\n```', True),  # the :linenos: option is dropped
    ]
    conflicts = section(doc, "Skyloom", "Usage", "Conflicts")
    assert conflicts == [("Skyloom keeps both copies.", False), ("```\nvault/report (conflict).txt\n```", True)]


def test_rst_to_markdown_keeps_plain_paragraphs() -> None:
    md = rst_to_markdown("Title\n=====\n\nA paragraph with *emphasis*.\n")
    assert md.splitlines()[0] == "# Title"
    assert "A paragraph with *emphasis*." in md


# text -------------------------------------------------------------------------------------------------------


def test_text_paragraphs_are_blocks() -> None:
    doc = parse(b"First paragraph\nstill first.\n\n\nSecond paragraph.\n", "text", "file:///docs/faq-notes.txt")
    assert doc.title == "Faq notes"
    assert section(doc) == [("First paragraph\nstill first.", False), ("Second paragraph.", False)]


def test_unknown_format_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError):
        parse(b"x", "docx")


# PDF --------------------------------------------------------------------------------------------------------


def test_pdf_text_is_extracted_page_by_page() -> None:
    raw = minimal_pdf(
        [
            ["Skyloom Datasheet", "Install the client with pip install skyloom-cli."],
            ["Rate limits (per token): 600 requests per minute."],
        ],
        title="Skyloom Datasheet 2024",
    )
    doc = parse(raw, "pdf", "file:///docs/datasheet.pdf")
    assert doc.title == "Skyloom Datasheet 2024"  # the document's /Title
    assert paths(doc) == [("Page 1",), ("Page 2",)]
    assert "pip install skyloom-cli" in " ".join(b for b, _ in section(doc, "Page 1"))
    assert "Rate limits (per token): 600 requests per minute." in " ".join(b for b, _ in section(doc, "Page 2"))


def test_pdf_without_metadata_title_uses_its_first_line() -> None:
    doc = parse(minimal_pdf([["Skyloom Quick Start", "Step one."]]), "pdf", "file:///docs/qs.pdf")
    assert doc.title == "Skyloom Quick Start"


def test_not_a_pdf_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError):
        parse(b"This is plain text pretending to be a PDF.\n" * 10, "pdf", "file:///docs/fake.pdf")


def test_pdf_without_text_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError, match="no extractable text"):
        parse(minimal_pdf([[]]), "pdf", "file:///docs/scan.pdf")


def test_html_nested_deeper_than_the_converter_can_follow_keeps_its_text() -> None:
    """50,000 nested divs (seen in generated pages) used to fail the whole document with a RecursionError."""
    raw = (
        "<html><head><title>Deep</title></head><body><h1>Deep page</h1>"
        + "<div>" * 50_000
        + "<p>The quarantine folder keeps deleted files for 30 days.</p>"
        + "</div>" * 50_000
        + "</body></html>"
    ).encode()
    doc = parse(raw, "html", "https://docs.example.com/deep.html")
    text = " ".join(b.text for s in doc.sections for b in s.blocks)
    assert "quarantine folder keeps deleted files for 30 days" in text
    assert doc.title == "Deep page"
