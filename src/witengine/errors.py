"""The one tree of witengine's error types.

Every error a user can cause or meet derives from `WitError` and carries a message they can act
on. Errors are rendered at the edge (CLI, HTTP handler), never deep inside.
"""


class WitError(Exception):
    """Base of every error witengine raises on purpose."""


# ScriptError, for scripts that fail to parse or check, lives in witengine.lang.errors with the
# diagnostics it renders; it derives from WitError like everything here.


class RunError(WitError):
    """Something went wrong while running one statement of a job."""

    def __init__(self, message: str, *, located: bool = False) -> None:
        super().__init__(message)
        self.located = located  # the message already names the file, line and statement


class ParameterError(WitError):
    """A job parameter is missing or cannot be read as its declared type."""


class PluginError(WitError):
    """A plugin could not be loaded or declares something inconsistent."""


class BundleError(PluginError):
    """A plugin bundle was refused; the message says what failed."""


class BundleHashMismatch(BundleError):
    """A bundle's bytes, or a file inside it, do not hash to the digest they were listed with."""


class BundleSignatureInvalid(BundleError):
    """A bundle's signature does not verify against any trusted publisher key."""


class BundleInvalid(BundleError):
    """A bundle is malformed or unsafe: unreadable zip, bad manifest, or an entry that could
    escape its folder (absolute path, `..`, symlink)."""


class BundleIncompatible(BundleError):
    """A bundle does not fit this machine (platform, Python) or this witengine version."""


class ActivityError(WitError):
    """An activity raised while running; the message names the activity."""


class JobFailed(WitError):
    """A job ended in failure; the message names the statement that failed."""


class RerunRefused(WitError):
    """A job cannot be re-run: it did not fail and was not cancelled, or it cannot start again."""


class NoCompatibleNode(WitError):
    """No connected node can run an activity the job needs."""


class LeaseExpired(WitError):
    """A node held a lease past its deadline; its attempt was fenced off."""


class StoreUnavailable(WitError):
    """The hub's store cannot be opened: its URL is wrong, or its server is out of reach."""


class LimitExceeded(WitError):
    """A request, job or message is larger than the hub allows; the message names the limit."""


class BoardConflict(WitError):
    """A write to the blackboard expected another version of its key; `current` is the key's
    version now (None: the key has no value)."""

    def __init__(self, message: str, current: int | None) -> None:
        super().__init__(message)
        self.current = current


class BoardFull(LimitExceeded):
    """The blackboard holds as many keys as the hub allows, none of them deleted."""
