"""AI providers that nodes call with the run payer's own key (BYOK): one module per provider.

A provider module names its provider (``NAME``, the ``provider`` a user stores a key under with
``PUT /api/v1/me/ai-keys``; ``TITLE`` for messages) and offers one function per kind of call (``chat``, …).
Each takes the run's key lookup (``NodeContext.provider_key``: bound by the engine to the user billed for the
run, so a node can reach no one else's key) and raises :class:`~pipelines.providers.base.ProviderError`,
classified the way node errors are, for every failure. The clear key is read at the call and goes to the
provider's SDK only: it is never logged, returned or stored.
"""
