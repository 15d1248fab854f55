"""TLS material made at test time: a throwaway CA (trustme) and a broker certificate for
127.0.0.1/localhost, written as a PEM keystore that Kafka reads directly (no keytool)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_file: Path        # CA certificate (PEM): what a client trusts
    keystore: Path       # broker key (unencrypted PKCS#8) followed by its certificate chain

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA and checks the broker's name (127.0.0.1)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def broker_config(self, prefix: str = "") -> dict[str, str]:
        return {
            f"{prefix}ssl.keystore.type": "PEM",
            f"{prefix}ssl.keystore.location": str(self.keystore),
            f"{prefix}ssl.client.auth": "none",
        }


def make_tls(directory: Path) -> TlsFiles:
    import trustme  # imported here: only a harness-started broker needs them
    from cryptography.hazmat.primitives import serialization

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="kproto test CA")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    ca_file = directory / "ca.pem"
    keystore = directory / "broker-keystore.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    keystore.write_bytes(pkcs8 + chain)
    keystore.chmod(0o600)
    return TlsFiles(ca_file, keystore)
