"""Trust between hub, nodes and clients: tokens and roles, TLS and certificate pins, and how a
client builds its connections to a hub. Imports nothing from hub, node or cli."""
