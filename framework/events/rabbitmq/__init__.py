"""The RabbitMQ backend: a topic exchange, a durable quorum queue per subscription.

Publishing sends the signed envelope (as on Redis: the hex HMAC-SHA256 bound to
``<exchange>/<topic>``, then the JSON) to the topic exchange with the topic as routing key,
and waits for the broker's publisher confirm. Each subscription is the durable quorum queue
``<exchange>.<subscriber>.<pattern>`` bound with the pattern (``*`` stays ``*``, ``**`` becomes
``#``: the same matching), so every component gets each event once and processes running the
same component share its queue. A message is acknowledged only after its handler succeeded;
one redelivered more than ``max_deliveries`` times (the quorum queue's ``x-delivery-count``)
is dead-lettered, as are messages that are not signed envelopes for their topic, copies and
events signed longer ago than ``replay_window``: to the dead-letter exchange and its queue,
never handled. The connection is aio-pika's robust one, reconnecting with a doubling wait.

Modules, lowest first: ``connection`` (the robust connection, names, lost-connection errors),
``acks`` (acknowledgements tied to their channel), ``replays`` (the replay guard),
``deadletters`` (the dead-letter exchange and queue), ``replies`` (request/reply),
``consumer`` (one subscription's queue) and ``bus`` (``RabbitBus``, which puts them together).
"""
