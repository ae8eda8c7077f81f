"""The event bus: envelope, topic matching, in-memory and Redis Streams backends.

Build one from the ``event_bus`` config section with ``factory.create_bus(section)``, then
``async with bus: ...``; components get ``bus.scoped(name, publishes=..., subscribes=...)``.
The Redis backend (``framework.events.redis``) is imported only when configured.

Modules, lowest first: ``errors``, ``topics``, ``settings``, ``envelope``, ``records`` (what the
bus hands out), ``partitioning`` (a key's partition, and who owns each partition: pure),
``bus`` (the ``EventBus`` contract and ``ScopedBus``), ``delivery`` (mailbox and worker),
``core`` (what backends share), ``memory`` and ``redis`` (the backends), ``factory``.
Import each name from the module that defines it; the public ones are in ``framework``.
"""
