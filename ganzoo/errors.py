"""Errors a user can cause. The CLI turns them into one line and an exit code, no traceback."""


class GanzooError(Exception):
    """A runtime problem the user can act on (exit code 1)."""

    exit_code = 1


class UsageError(GanzooError):
    """Bad command-line input: unknown name, bad parameter, refused output path (exit code 2)."""

    exit_code = 2


class PluginError(GanzooError):
    """A plugin is broken: duplicate names, misspelled hooks, a bad spec."""

    exit_code = 1


def closest(name: str, options) -> str | None:
    """The option most like ``name`` (for 'did you mean ...?'), or None."""
    import difflib

    found = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return found[0] if found else None


def unknown_name(kind: str, name: str, options) -> UsageError:
    """An error for an unknown arch/dataset/loss/param name: what exists, and the closest one."""
    options = sorted(options)
    hint = closest(name, options)
    msg = f"unknown {kind} {name!r}"
    if hint:
        msg += f"; did you mean {hint!r}?"
    msg += f" (available: {', '.join(options) if options else 'none'})"
    return UsageError(msg)
