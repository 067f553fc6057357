"""The Textual dashboard (``defi-tui``): the only part of the package that imports Textual."""
