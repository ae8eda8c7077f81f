"""Live reload of a running app: plan (pure), apply (the transaction), outcome (what happened).

Nothing is re-exported here: the public names live in ``framework``; import the module you use.
"""
