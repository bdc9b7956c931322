"""The peers' side of the comparison, copied into a project's ``peer_bench/``.

It lives outside ``tests/``, so none of the suite's plugins load for it.
"""
