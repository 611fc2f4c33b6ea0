"""The on-target agent (C): built per kernel against that kernel's uAPI headers."""
