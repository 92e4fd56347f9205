"""Plugins travel down the tree: a site hub installs the parent's plugins it lacks, as a node
does (signed bundles, checked against the parent's key pinned on first contact), and serves them
to its own nodes signed with its own key. So a plugin is fetched from the parent once per site,
not once per node.

The site hub's library grows in place: its job service, its dispatcher's estimates and its
routes all hold that one library, and see the new activities at once.
"""

from __future__ import annotations

import logging

from witengine.errors import PluginError
from witengine.hub.app import Hub
from witengine.node.plugins import PluginInstaller
from witengine.plugins.bundles import pack
from witengine.protocol import PluginInfo

log = logging.getLogger(__name__)


async def take_parent_plugins(hub: Hub, installer: PluginInstaller) -> list[str]:
    """Install the parent's plugins the site hub lacks and serve them to its nodes; the names
    and versions of those it took."""
    library = hub.library
    have = [PluginInfo(name=name, version=version) for name, version in library.plugins]
    grown, installed = await installer.install(library, have)
    if not installed:
        return []
    library.types.update(grown.types)
    library.activities.update(grown.activities)
    library.plugins[:] = grown.plugins
    taken = []
    for plugin in installed:
        label = f"{plugin.plugin.name} {plugin.plugin.version}"
        try:
            hub.bundles.add(pack(plugin.plugin))
        except PluginError as error:
            log.warning(
                "the parent's plugin %s is not served to this site's nodes: %s", label, error
            )
            continue
        taken.append(label)
    log.info("took the parent's plugins %s", ", ".join(taken))
    return taken
