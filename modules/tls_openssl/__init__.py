"""tls_openssl: the TLS library behind tls_mgm (OpenSIPS module `tls_openssl`).

In OpenSIPS, tls_mgm delegates TLS work to a library module (OpenSSL here). pysips does TLS with
Python's ssl module inside pysips.transport, whichever of tls_openssl/tls_wolfssl a script loads,
so this module exists only for `loadmodule "tls_openssl.so"` to load; it exports nothing.
"""

from __future__ import annotations

from pysips.script.exports import ModuleExports

exports = ModuleExports("tls_openssl", doc="TLS library for tls_mgm (pysips uses Python's ssl for both)")
