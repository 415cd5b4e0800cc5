#!/usr/bin/env python3
"""A schema-only Terraform provider: enough for an offline `terraform validate`.

Usage (by Terraform, through a dev_overrides shim made by run.sh):
    provider.py SCHEMAS_JSON REGISTRY_ADDRESS

Speaks Terraform plugin protocol 6 over gRPC (the go-plugin handshake line
on stdout, plain TCP on 127.0.0.1). It answers GetProviderSchema from the
extracted schemas (schemas.json, `terraform providers schema -json` shape)
and every Validate*Config call with no diagnostics: Terraform core does the
schema checks (argument names, types, required arguments, block nesting and
counts, write-only arguments) itself. Any other call (plan, apply, read) is
UNIMPLEMENTED.

Only grpcio is needed (already installed through google-cloud-secret-manager);
the few protobuf messages involved are encoded by hand below (field numbers
from tfplugin6.proto, protocol 6, MPL-2.0, hashicorp/terraform
docs/plugin-protocol/tfplugin6.proto).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from concurrent import futures

import grpc

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"

NESTING_BLOCK = {"single": 1, "list": 2, "set": 3, "map": 4, "group": 5}
NESTING_OBJECT = {"single": 1, "list": 2, "set": 3, "map": 4}


# --- protobuf wire format (just what the messages below need) --------------
def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:  # int64, bool, enum
    return _varint(field << 3) + _varint(value) if value else b""


def _bytes(field: int, value: bytes | str) -> bytes:  # bytes, string, message
    if isinstance(value, str):
        value = value.encode()
    return _varint(field << 3 | 2) + _varint(len(value)) + value


# tfplugin6.Schema.Attribute: name=1 type=2 required=4 optional=5 computed=6
# sensitive=7 deprecated=9 nested_type=10 write_only=11
def _attribute(name: str, attr: dict) -> bytes:
    out = _bytes(1, name)
    if "type" in attr:
        out += _bytes(2, json.dumps(attr["type"], separators=(",", ":")))
    for field, key in ((4, "required"), (5, "optional"), (6, "computed"), (7, "sensitive"), (9, "deprecated")):
        out += _int(field, 1 if attr.get(key) else 0)
    if "nested_type" in attr:  # tfplugin6.Schema.Object: attributes=1 nesting=3
        nt = attr["nested_type"]
        obj = b"".join(_bytes(1, _attribute(k, v)) for k, v in sorted(nt.get("attributes", {}).items()))
        out += _bytes(10, obj + _int(3, NESTING_OBJECT[nt["nesting_mode"]]))
    out += _int(11, 1 if attr.get("write_only") else 0)
    return out


# tfplugin6.Schema.Block: version=1 attributes=2 block_types=3
# tfplugin6.Schema.NestedBlock: type_name=1 block=2 nesting=3 min_items=4 max_items=5
def _block(block: dict) -> bytes:
    out = b"".join(_bytes(2, _attribute(k, v)) for k, v in sorted(block.get("attributes", {}).items()))
    for name, bt in sorted(block.get("block_types", {}).items()):
        nested = _bytes(1, name) + _bytes(2, _block(bt["block"])) + _int(3, NESTING_BLOCK[bt["nesting_mode"]])
        nested += _int(4, bt.get("min_items", 0)) + _int(5, bt.get("max_items", 0))
        out += _bytes(3, nested)
    return out


def _schema(schema: dict) -> bytes:  # tfplugin6.Schema: version=1 block=2
    return _int(1, schema.get("version", 0)) + _bytes(2, _block(schema["block"]))


def provider_schema_response(provider: dict) -> bytes:
    """tfplugin6.GetProviderSchema.Response: provider=1, resource_schemas=2,
    data_source_schemas=3, ephemeral_resource_schemas=8 (maps: entry key=1
    value=2), server_capabilities=6 (get_provider_schema_optional=2)."""
    out = _bytes(1, _schema(provider["provider"]))
    for field, key in ((2, "resource_schemas"), (3, "data_source_schemas"), (8, "ephemeral_resource_schemas")):
        for name, schema in sorted(provider.get(key, {}).items()):
            out += _bytes(field, _bytes(1, name) + _bytes(2, _schema(schema)))
    return out + _bytes(6, _int(2, 1))


def _self_signed_localhost() -> tuple[bytes, bytes, str]:
    """(key PEM, certificate PEM, certificate for the handshake line)."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False, False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), base64.b64encode(der).decode().rstrip("=")


# --- gRPC service ---------------------------------------------------------
def _unary(fn):
    return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=None, response_serializer=None)


def serve(schemas_path: str, address: str) -> None:
    with open(schemas_path, encoding="utf-8") as fh:
        provider = json.load(fh)["provider_schemas"][address]
    schema_response = provider_schema_response(provider)
    empty = b""  # every Validate* / StopProvider response: no diagnostics
    done = threading.Event()

    def shutdown(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        done.set()
        return empty

    provider_methods = {
        "GetProviderSchema": _unary(lambda _r, _c: schema_response),
        "ValidateProviderConfig": _unary(lambda _r, _c: empty),
        "ValidateResourceConfig": _unary(lambda _r, _c: empty),
        "ValidateDataResourceConfig": _unary(lambda _r, _c: empty),
        "ValidateEphemeralResourceConfig": _unary(lambda _r, _c: empty),
        "StopProvider": _unary(lambda _r, _c: empty),
    }
    handlers = [
        grpc.method_handlers_generic_handler("tfplugin6.Provider", provider_methods),
        grpc.method_handlers_generic_handler("plugin.GRPCController", {"Shutdown": _unary(shutdown)}),
        # grpc.health.v1.HealthCheckResponse{status: SERVING}
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": _unary(lambda _r, _c: _int(1, 1))}),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=handlers)
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    server_cert = ""
    if client_cert:  # Terraform's automatic mTLS: answer with our own self-signed certificate
        key_pem, cert_pem, server_cert = _self_signed_localhost()
        # Not verifying Terraform's client certificate: it is P-521, which
        # gRPC's TLS stack does not offer, so Go would send none. The server
        # listens on loopback for the few seconds of a validate and serves
        # nothing but a public schema.
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # go-plugin handshake: core version | app protocol version | network |
    # address | protocol | server certificate (base64 DER, no padding)
    sys.stdout.write(f"1|6|tcp|127.0.0.1:{port}|grpc|{server_cert}\n")
    sys.stdout.flush()
    done.wait()
    server.stop(grace=0.5)


def main() -> int:
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE:
        print(
            "This is a Terraform provider plugin (schema only, for `terraform validate`); Terraform starts it.",
            file=sys.stderr,
        )
        return 1
    serve(sys.argv[1], sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
