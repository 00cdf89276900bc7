"""The Textual skin. Nothing outside this package imports Textual."""
