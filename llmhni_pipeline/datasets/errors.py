"""One error type for bad input, always naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset source is missing, malformed or inconsistent.

    The message starts with the offending file (or folder) so a failed run says where to look.
    """

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
