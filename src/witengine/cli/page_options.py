"""The options of `wit node` that serve the node's own status page (docs/farm.md, "Each
machine's own page") and its owner's console (docs/exchange.md)."""

from __future__ import annotations

from typing import Annotated

import typer

StatusPortOption = Annotated[
    int | None,
    typer.Option(
        "--status-port",
        min=0,
        max=65535,
        help="Serve this node's own page (what it runs, its logs, tools, rates and policy, and "
        "Pause and Resume buttons) on this port; 0: any free port. None by default.",
        show_default=False,
    ),
]
StatusHostOption = Annotated[
    str,
    typer.Option(
        "--status-host",
        help="The address the page listens on: 127.0.0.1 (this machine only, no token), or "
        "0.0.0.0 or a LAN address to open it to the network, where other machines need a "
        "ticket the hub signs (the link on the dashboard's node page).",
    ),
]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        help="The exchange account that owns this node (its key made here by wit account "
        "create): the node's page then serves its console at /console, to this machine only: "
        "the account's balance, statement, earnings per day, jobs bought, and a form to pay, "
        "each request signed here with the account's key. Turns the page on (any free port "
        "without --status-port).",
        show_default=False,
    ),
]
