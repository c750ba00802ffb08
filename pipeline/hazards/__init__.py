"""Forest-fire danger and geological hazard: their feeds, scoring and agents.

::

    obs.fire --fire agent--> warnings (forest_fire, per county)
    obs.geo  --geo agent---> warnings (landslide, per town)
                 \\--bad record--> deadletter

Each hazard has a scoring module (:mod:`.fire_scoring`, :mod:`.geo_scoring`)
that turns one decoded record and the table entries it touches into new
entries and warning events, with plain mappings in place of faust tables,
and a wiring module (:mod:`.fire`, :mod:`.geo`) whose ``register(wiring)``
attaches the agent to the app of :mod:`pipeline.app`. :mod:`.feeds` reads
the recorded feeds of a scenario into those records. The warnings go on
through the CAP agent like every other hazard's.
"""
