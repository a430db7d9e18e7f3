"""A client that trusts a scheduler's certificate but holds no credentials of the run.

Such a client would accept the server; so when its connection fails, it is the
scheduler that refused it, which is what the security tests must show.
"""

from __future__ import annotations

import ssl


def outsider_security(address, folder):
    """dask ``Security`` trusting the server at ``address``, with a certificate of its own."""
    from distributed.security import Security

    host, port = address.split("://", 1)[1].rsplit(":", 1)
    ca = folder / "server-cert.pem"
    ca.write_text(ssl.get_server_certificate((host, int(port))))
    own = Security.temporary()
    return Security(
        tls_ca_file=str(ca),
        tls_client_cert=own.tls_client_cert,
        tls_client_key=own.tls_client_key,
        require_encryption=True,
    )


def refused(address, security, timeout="3s"):
    """True when no client session can be made with ``security`` at ``address``."""
    from distributed import Client

    try:
        Client(address, security=security, timeout=timeout).close()
    except (OSError, TimeoutError):
        return True
    return False
