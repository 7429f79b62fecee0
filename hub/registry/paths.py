"""Validation of file paths inside a repo."""

from __future__ import annotations

from hub.core.errors import Invalid

MAX_PATH_LENGTH = 1024


def validate_path(path: object, *, what: str = "path") -> str:
    """A relative path with '/' separators: no absolute paths, '..', '.', NUL, backslashes, .git/ or empty segments."""
    if not isinstance(path, str) or path == "":
        raise Invalid(f"{what} is required.", code="invalid_path")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_LENGTH:
        raise Invalid(f"{what} is longer than {MAX_PATH_LENGTH} bytes.", code="invalid_path")
    if "\\" in path:
        raise Invalid(f"{what} '{path}' may not contain backslashes.", code="invalid_path")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        raise Invalid(f"{what} may not contain NUL or control characters.", code="invalid_path")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in path):
        raise Invalid(f"{what} is not valid UTF-8.", code="invalid_path")
    if path.startswith("/"):
        raise Invalid(f"{what} '{path}' must be relative (no leading '/').", code="invalid_path")
    segments = path.split("/")
    if any(segment == "" for segment in segments):
        raise Invalid(f"{what} '{path}' has an empty segment.", code="invalid_path")
    if any(segment in (".", "..") for segment in segments):
        raise Invalid(f"{what} '{path}' may not contain '.' or '..' segments.", code="invalid_path")
    if segments[0] == ".git" or ".git" in segments:
        raise Invalid(f"{what} '{path}' may not be inside .git/.", code="invalid_path")
    return path


def validate_folder(path: object) -> str:
    """A folder path for listing or deleting: '' means the root; a trailing '/' is allowed."""
    if path in (None, "", "/"):
        return ""
    if not isinstance(path, str):
        raise Invalid("folder path must be a string.", code="invalid_path")
    return validate_path(path.rstrip("/"), what="folder path")
