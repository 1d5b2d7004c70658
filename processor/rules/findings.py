"""What lint reports: one warning per finding, with a code to search for and a path to the spot."""

from __future__ import annotations

from dataclasses import dataclass

from processor.rules.errors import Location, format_path


@dataclass(frozen=True, slots=True)
class Finding:
    """One warning: a short code to search for, where it is, and what it means for leads."""

    code: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "path": self.path, "message": self.message}


def finding(code: str, where: Location, message: str) -> Finding:
    return Finding(code, format_path(where), message)
