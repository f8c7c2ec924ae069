"""Passages split into quotable blocks (markdown and rst as the ingester leaves it) and quoted back as markdown."""

from __future__ import annotations

from docsage.answer.passages import CODE_PART_LINES, Block, BlockKind, code_parts, quote_block, split_blocks

RST_PAGE = """\
.. _option-prompting:

Options can prompt for their value.  If the option is missing, the user
is asked for it instead.

Example:

.. click:example::

    @click.command()
    @click.option('--name', prompt=True)
    def hello(name):
        click.echo(f"Hello {name}!")

.. note::

    Prompting is skipped when the value comes from an environment
    variable.

.. toctree::

    quickstart
    options

>>> hello(["--name", "Ada"])
Hello Ada!
"""

MARKDOWN_PAGE = """\
The daemon accepts these signals:

1. `SIGHUP` reloads the configuration
   file from disk.
2. `SIGTERM` stops it.

| Setting | Default |
|---|---|
| `sync_interval_seconds` | 30 |

```python
import skyloom
skyloom.sync()
"""


def kinds(blocks: list[Block]) -> list[BlockKind]:
    return [block.kind for block in blocks]


def test_rst_examples_are_code_notes_are_prose_and_machinery_is_dropped() -> None:
    blocks = split_blocks(RST_PAGE)

    assert kinds(blocks) == [BlockKind.PROSE, BlockKind.PROSE, BlockKind.CODE, BlockKind.PROSE, BlockKind.CODE]
    assert blocks[0].parts == (
        "Options can prompt for their value.",
        "If the option is missing, the user is asked for it instead.",
    )
    example = blocks[2]
    assert example.parts[0].startswith("@click.command()\n@click.option('--name', prompt=True)")
    # "Example:" says nothing; the code's lead is the sentence before it.
    assert example.lead == "If the option is missing, the user is asked for it instead."
    assert blocks[3].parts == ("Prompting is skipped when the value comes from an environment variable.",)
    assert blocks[4].language == "pycon"
    assert blocks[4].parts == ('>>> hello(["--name", "Ada"])\nHello Ada!',)
    assert not any("quickstart" in part or "option-prompting" in part for b in blocks for part in b.parts)


def test_markdown_lists_tables_and_a_cut_code_block() -> None:
    blocks = split_blocks(MARKDOWN_PAGE)

    assert kinds(blocks) == [BlockKind.PROSE, BlockKind.LIST, BlockKind.TABLE, BlockKind.CODE]
    listing = blocks[1]
    assert listing.ordered
    assert listing.lead == "The daemon accepts these signals:"
    assert listing.parts == ("`SIGHUP` reloads the configuration file from disk.", "`SIGTERM` stops it.")
    assert blocks[2].parts == ("| Setting | Default |", "| `sync_interval_seconds` | 30 |")
    code = blocks[3]
    assert (code.language, code.parts) == ("python", ("import skyloom\nskyloom.sync()",))
    # The chunker cut the block before its closing fence; quoting closes it.
    assert quote_block(code, {0}, "[1]", "From “Guide” [1]:") == [
        "From “Guide” [1]:",
        "```python\nimport skyloom\nskyloom.sync()\n```",
    ]


def test_a_chunk_that_starts_inside_an_indented_example_starts_with_code() -> None:
    blocks = split_blocks("    click.echo('done')\n    return 0\n\nThat is all it takes.")

    assert kinds(blocks) == [BlockKind.CODE, BlockKind.PROSE]
    assert blocks[0].parts == ("click.echo('done')\nreturn 0",)


def test_long_code_is_split_at_blank_lines_and_quoted_with_cuts_marked() -> None:
    lines = [f"{name}_{n}()" for name in ("step", "check", "finish") for n in range(8)]
    for blank in (16, 8):
        lines.insert(blank, "")
    parts = code_parts(lines)

    assert all(part.count("\n") < CODE_PART_LINES for part in parts)
    assert parts[0] == "\n".join(f"step_{n}()" for n in range(8))
    block = Block(BlockKind.CODE, parts, "Run the steps:", language="python")
    quoted = quote_block(block, {1}, "[2]", "Run the steps: [2]")
    assert quoted[1].startswith("```python\n…\ncheck_0()")
    assert quoted[1].endswith("check_7()\n…\n```")


def test_list_and_table_quotes_keep_their_shape() -> None:
    listing = Block(BlockKind.LIST, ("first", "second", "third"), ordered=True)
    table = Block(BlockKind.TABLE, ("| a | b |", "| 1 | 2 |", "| 3 | 4 |"), "The values:")

    assert quote_block(listing, {0, 2}, "[1]", "") == ["", "1. first [1]\n3. third [1]"]
    assert quote_block(table, {2}, "[1]", "The values: [1]") == ["The values: [1]", "| a | b |\n|---|---|\n| 3 | 4 |"]
