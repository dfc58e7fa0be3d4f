"""Use cases the CLI calls: one function per command, returning typed values it renders.

This package sits in the use-case layer (beside ``lmsctl.workspace``, ``lmsctl.adopt`` and
``lmsctl.pull``): it may read manifests, state and the API, never print; the views of what it
returns live in ``lmsctl.render``.
"""
