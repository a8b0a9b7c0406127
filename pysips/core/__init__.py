"""The proxy engine: receive -> script -> send; sockets and `myself`; stateless forwarding; DNS.

Modules see it through the `Core` protocol of pysips.core.api as `ctx.process.core`.
"""
