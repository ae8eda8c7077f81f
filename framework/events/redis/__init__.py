"""The Redis Streams backend: a stream per topic, a consumer group per subscriber.

Publishing XADDs the signed envelope to ``{prefix}:{topic}`` (approximate MAXLEN) and adds
the topic to the registry set ``{prefix}:@topics``. Publishes that arrive while Redis is busy
with earlier ones, and ``publish_many`` bursts, go as one EVALSHA of a script that runs the
XADDs: redis-py spends far more per command than Redis does. An entry has one field, ``e``:
the hex HMAC-SHA256 of the stream key and the envelope JSON, followed by that JSON.

Each subscriber name is a consumer group on every stream its pattern matches, so every
component gets each event once and several processes running one component share the load.
An entry is XACKed only after its handler succeeded; entries a dead consumer left pending are
claimed after ``claim_idle_ms`` and, past ``max_deliveries``, dead-lettered. Entries that are
not signed envelopes for their stream are dead-lettered with the reason, never handled, and so
are copies of a signed entry XADDed again and events signed longer ago than ``replay_window``
(the replay guard). A reader blocks in XREADGROUP while its streams are quiet; after a read
that filled a batch (a backlog), it reads with a script that runs the same XREADGROUP without
blocking and packs each stream's entries into one string, since parsing redis-py's usual reply
costs more than the rest of delivery.

Delivery inside the process reuses the shared core and its workers (priority, retries, timeouts).

Keyed partitions (issue 20): a keyed event goes to one of its topic's P partition streams
``{prefix}:{<topic>}:<p>`` (``partition_of(key, P)``), signed for that stream, and the topic
with its P is recorded in the hash ``{prefix}:@keyed``. Within a group each partition is owned
by one live member at a time, by a lease with a fencing token (``leases``); a ``Coordinator``
per member and keyed topic plans with ``partitioning.assign``, hands partitions over (revoked
before released) and acks fenced by the token. ``partitioned`` reads the partitions a
subscription owns, one entry at a time per partition. Every key of a topic carries the hash
tag ``{<topic>}``: one Cluster slot.

On a Redis Cluster (``event_bus.redis.cluster``) a script, transaction or multi-key command
may touch one hash slot only, so every key of a topic carries the topic as its hash tag: the
stream is ``{prefix}:{<topic>}`` and the replay records ``{prefix}:{<topic>}:@seen:<...>``.
A burst to several topics goes as one script call per topic, and a subscription over several
slots keeps a read in flight per slot. On one server the names are unchanged.

Modules, lowest first: ``client`` (the redis-py client of a server or a cluster, and the error
when it cannot be reached), ``scripts`` (the Lua scripts), ``signing`` (an entry's signed value),
``connection`` (the bus's client, key names, lost-connection errors), ``outbox`` (publishing by
group commit), ``acks`` (gathered XACKs), ``deadletters`` (the ``@dead`` stream), ``replays``
(the replay guard), ``replies`` (request/reply streams), ``leases`` (partition leases and
fencing tokens), ``coordinator`` (one member's partitions: join, rebalance, hand over),
``reader`` (one subscription's stream reader), ``feeds`` (one owned partition's state),
``partitioned`` (its share of one keyed topic's partitions), ``keyed`` (its keyed topics) and
``bus`` (``RedisBus``, which puts them together).
"""
