"""Federation: a site hub that is also one node of a parent hub (`wit hub --parent`).

`offer` says what the site's online nodes offer together, `share` when and how much of them the
parent gets, `enrolment` how the site is known to its parent, `plugins` takes the parent's
plugins down to the site's nodes, `batches` runs a parent's batch over them, `link` keeps the
site's connection to its parent and `serving` runs a hub with its link. The hub and the node
know nothing of this package; it uses both.
"""
