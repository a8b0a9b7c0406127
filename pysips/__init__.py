"""pysips: an OpenSIPS-compatible SIP server in Python."""

__version__ = "0.1.0"
