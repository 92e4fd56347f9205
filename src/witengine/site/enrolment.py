"""How a site hub is known to its parent: its settings for the parent, and its credential,
kept from an earlier enrolment in the site's data folder, else made with the join token (as a
node enrols, tried again while the parent cannot be reached), else the token given as is."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from witengine.node.enrol import (
    CREDENTIAL_FILE,
    Credential,
    HubUnreachable,
    as_given,
    enrol,
    load_credential,
    save_credential,
    token_kind,
)
from witengine.security.connect import transport_options
from witengine.security.tokens import Role
from witengine.site.share import ParentShare
from witengine.waiting import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParentSettings:
    """How a site reaches its parent, and how much of it the parent gets."""

    url: str
    token: str
    name: str
    folder: Path  # where the site keeps its credential and id at the parent
    share: ParentShare = field(
        default_factory=ParentShare
    )  # how much of its nodes the parent gets, and when
    fingerprint: str | None = None
    insecure: bool = False
    status_url: str | None = None  # the site's own dashboard, for the parent's link
    max_backoff: float = 10.0


async def site_credential(settings: ParentSettings) -> Credential:
    """The site's credential at its parent (NodeRefused when the parent refuses the token)."""
    path = settings.folder / CREDENTIAL_FILE
    kept = load_credential(path)
    if kept is not None and kept.hub_url == settings.url:
        return kept
    if token_kind(settings.token) != Role.JOIN.value:
        return as_given(settings.url, settings.token, settings.fingerprint)
    backoff = Backoff(settings.max_backoff)
    while True:
        try:
            credential = await enrol(
                settings.url,
                settings.token,
                settings.name,
                fingerprint=settings.fingerprint,
                insecure=settings.insecure,
                previous=kept,
            )
            break
        except HubUnreachable as error:
            log.warning("%s; retrying in %.1f s", error, backoff.seconds)
        await backoff.wait()
    save_credential(path, credential)
    log.info("enrolled with the parent %s as %s", settings.url, credential.node_id)
    return credential


def parent_transport(
    settings: ParentSettings, credential: Credential | None
) -> tuple[dict[str, str], ssl.SSLContext | None]:
    """The headers and TLS check that reach the parent with the credential."""
    return transport_options(
        settings.url,
        credential.token if credential else None,
        (credential.fingerprint if credential else None) or settings.fingerprint,
        insecure=settings.insecure,
        who="this site hub",
    )
