"""Forest-fire danger and geological hazard: their feeds, scoring and agents.

::

    obs.fire --station agent--> fire.counties --county agent--> warnings
    obs.geo  --site agent-----> geo.towns     --town agent----> warnings
                 \\--bad record--> deadletter

(forest_fire per county, landslide per town). The hand-over topics are
keyed by county or town code, so all the evidence of one area meets in one
partition whichever workers read its stations and sites.

Each hazard has a scoring module (:mod:`.fire_scoring`, :mod:`.geo_scoring`)
that turns one decoded record and the table entries it touches into new
entries and warning events, with plain mappings in place of faust tables,
and a wiring module (:mod:`.fire`, :mod:`.geo`) whose ``register(wiring)``
attaches the agent to the app of :mod:`pipeline.app`. :mod:`.feeds` reads
the recorded feeds of a scenario into those records. The warnings go on
through the CAP agent like every other hazard's.
"""
