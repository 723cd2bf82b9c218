"""Certificates, keys and static tokens for the local control plane (made once per state dir).

One private CA signs the API server's serving certificate, the node agent's kubelet serving
certificate and the API server's kubelet client certificate, so every TLS hop is verified.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """Paths of the generated material inside ``<state>/pki``."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def apiserver_cert(self) -> Path:
        return self.root / "apiserver.crt"

    @property
    def apiserver_key(self) -> Path:
        return self.root / "apiserver.key"

    @property
    def kubelet_cert(self) -> Path:
        return self.root / "kubelet.crt"

    @property
    def kubelet_key(self) -> Path:
        return self.root / "kubelet.key"

    @property
    def kubelet_client_cert(self) -> Path:
        return self.root / "apiserver-kubelet-client.crt"

    @property
    def kubelet_client_key(self) -> Path:
        return self.root / "apiserver-kubelet-client.key"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    @property
    def tokens_csv(self) -> Path:
        return self.root / "tokens.csv"

    @property
    def node_cert(self) -> Path:
        """Serving certificate of the real kubelet (``--runtime containerd``)."""
        return self.root / "kubelet-node.crt"

    @property
    def node_key(self) -> Path:
        return self.root / "kubelet-node.key"

    def token(self, user: str) -> str:
        """Static token of ``user`` (``admin``, ``node``) from tokens.csv."""
        for line in self.tokens_csv.read_text().splitlines():
            parts = line.split(",")
            if len(parts) >= 2 and parts[1] == user:
                return parts[0]
        raise KeyError(user)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    os.chmod(path, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _sign(
    subject: str,
    key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    *,
    server: bool,
    ips: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
    org: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, subject)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def ensure_pki(root: Path, service_ip: str) -> Pki:
    """Create the CA, certificates, service-account keys and static tokens unless present."""
    pki = Pki(root)
    if pki.tokens_csv.exists():
        return pki
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localk8s-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.ca_cert, ca_cert)

    key = _key()
    cert = _sign(
        "kube-apiserver",
        key,
        ca_cert,
        ca_key,
        server=True,
        ips=("127.0.0.1", service_ip),
        dns=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
    )
    _write_key(pki.apiserver_key, key)
    _write_cert(pki.apiserver_cert, cert)

    key = _key()
    cert = _sign("local-node", key, ca_cert, ca_key, server=True, ips=("127.0.0.1",))
    _write_key(pki.kubelet_key, key)
    _write_cert(pki.kubelet_cert, cert)

    key = _key()
    cert = _sign(
        "kube-apiserver-kubelet-client", key, ca_cert, ca_key, server=False, org="system:masters"
    )
    _write_key(pki.kubelet_client_key, key)
    _write_cert(pki.kubelet_client_cert, cert)

    sa_key = _key()
    _write_key(pki.sa_key, sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    # token,user,uid,"group1,group2" -- all control-plane clients are cluster admins here.
    rows = [
        f'{secrets.token_hex(24)},admin,admin,"system:masters"',
        f'{secrets.token_hex(24)},system:node-agent,node-agent,"system:masters"',
        f'{secrets.token_hex(24)},system:kube-controller-manager,kcm,"system:masters"',
        f'{secrets.token_hex(24)},system:kube-scheduler,ksched,"system:masters"',
    ]
    tmp = pki.tokens_csv.with_suffix(".tmp")
    tmp.write_text("\n".join(rows) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, pki.tokens_csv)
    return pki


def write_kubeconfig(path: Path, server: str, ca_cert: Path, token: str, user: str) -> None:
    """Write a kubeconfig using a bearer token (readable by kubectl, KubeSpawner and the agent)."""
    import yaml

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "localk8s",
                "cluster": {"server": server, "certificate-authority": str(ca_cert)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "localk8s", "context": {"cluster": "localk8s", "user": user}}],
        "current-context": "localk8s",
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_token(pki: Pki, user: str, uid: str, groups: str) -> str:
    """Add a static token for ``user`` (in ``groups``) unless tokens.csv has one; return it.

    The API server reads tokens.csv at start, so call this before starting it. Used for the real
    node's credentials, which are least privilege (``system:nodes``, ``system:kube-proxy``) rather
    than cluster admin.
    """
    try:
        return pki.token(user)
    except KeyError:
        pass
    token = secrets.token_hex(24)
    text = pki.tokens_csv.read_text()
    tmp = pki.tokens_csv.with_suffix(".tmp")
    tmp.write_text(text + f'{token},{user},{uid},"{groups}"\n')
    os.chmod(tmp, 0o600)
    os.replace(tmp, pki.tokens_csv)
    return token


def ensure_node_cert(pki: Pki, node_name: str, ips: tuple[str, ...]) -> None:
    """A kubelet serving certificate for ``ips`` signed by the cluster CA (remade if ips change).

    The API server verifies the kubelet it proxies ``kubectl logs``/``exec`` to against the CA and
    the node's InternalIP, so the IP must be a SAN.
    """
    if pki.node_cert.exists():
        cert = x509.load_pem_x509_certificate(pki.node_cert.read_bytes())
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        except x509.ExtensionNotFound:
            have = set()
        if have == set(ips):
            return
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = _key()
    cert = _sign(node_name, key, ca_cert, ca_key, server=True, ips=ips, dns=(node_name,))
    _write_key(pki.node_key, key)
    _write_cert(pki.node_cert, cert)
