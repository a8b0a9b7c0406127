"""Creates a self-signed development certificate for TLS and WSS listeners.

`python3 -m pysips.devcert DIR` writes DIR/cert.pem and DIR/privkey.pem for localhost, 127.0.0.1
and ::1. Good for a laptop and for tests; never for a server that browsers outside this machine use.
"""

from __future__ import annotations

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_dev_certificate(directory: Path, common_name: str = "localhost") -> tuple[Path, Path]:
    """Writes cert.pem and privkey.pem into `directory` and returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    alt_names: list[x509.GeneralName] = [
        x509.DNSName(common_name),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else Path("run/certs")
    cert_path, key_path = make_dev_certificate(directory)
    print(f"devcert: wrote {cert_path} and {key_path} (self-signed, for development only)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
