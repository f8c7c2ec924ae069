"""Browser assets served by docsage: the embeddable chat widget."""
