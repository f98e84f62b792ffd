#!/usr/bin/env python3
"""A real gRPC client (grpcio) of the Kubernetes KMS v2 plugin API, talking to Portcullis's
[kms_v2] unix socket the way kube-apiserver does. Its stubs are compiled at run time by
grpcio-tools from the committed upstream proto (proto/kms/v2/api.proto) into a temp dir.

Usage (exit 0: every check passed; 1: a check failed; 2: bad usage):
  kms_v2.py check SOCKET [--other SOCKET2]
      Status (version v2, healthz ok, key id); encrypt/decrypt round trips under the current
      key id; an unknown key id and a tampered ciphertext refused with INVALID_ARGUMENT; with
      --other (a plugin backed by another key): that key's ciphertexts refused here, under its
      key id and under ours.
  kms_v2.py status SOCKET
      Prints the Status answer as JSON ({"version", "healthz", "key_id"}); fails unless healthy.
  kms_v2.py encrypt SOCKET FILE
      Encrypts a random 32-byte seed and writes {plaintext, ciphertext, key_id} (base64) to FILE
      (mode 0600), for a later `decrypt` (e.g. after the server restarted or the key rotated).
  kms_v2.py decrypt SOCKET FILE [--expect-stale]
      Decrypts FILE's ciphertext under its key id and checks the plaintext. --expect-stale: the
      current key id (Status) must differ from FILE's (the key rotated in between).
"""

import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(REPO, "proto", "kms", "v2")
TIMEOUT = 10  # seconds per call (kube-apiserver's default is 3 s; a debug build is slower)
MAX_CIPHERTEXT = 1024  # kube-apiserver refuses an encrypted DEK larger than 1 KiB
MAX_KEY_ID = 1024


def compile_stubs(out_dir):
    """api_pb2 and api_pb2_grpc from the upstream proto, by grpcio-tools' bundled protoc."""
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", os.path.join(PROTO_DIR, "api.proto")],
        check=True,
    )
    sys.path.insert(0, out_dir)
    import api_pb2  # noqa: E402
    import api_pb2_grpc  # noqa: E402
    return api_pb2, api_pb2_grpc


class Client:
    def __init__(self, grpc, pb, pb_grpc, socket):
        self.grpc, self.pb = grpc, pb
        # ":authority: localhost", as kube-apiserver (grpc-go) sends over a unix socket; grpcio
        # would send the socket path, which the server's HTTP/2 (h2) refuses as not an authority.
        self.channel = grpc.insecure_channel(
            "unix://" + os.path.abspath(socket), options=[("grpc.default_authority", "localhost")]
        )
        self.stub = pb_grpc.KeyManagementServiceStub(self.channel)

    def status(self):
        return self.stub.Status(self.pb.StatusRequest(), timeout=TIMEOUT)

    def encrypt(self, plaintext, uid=None):
        r = self.stub.Encrypt(self.pb.EncryptRequest(plaintext=plaintext, uid=uid or new_uid()), timeout=TIMEOUT)
        return r.ciphertext, r.key_id, dict(r.annotations)

    def decrypt(self, ciphertext, key_id, uid=None):
        r = self.stub.Decrypt(
            self.pb.DecryptRequest(ciphertext=ciphertext, uid=uid or new_uid(), key_id=key_id), timeout=TIMEOUT
        )
        return r.plaintext

    def refused(self, fn, code):
        """Runs fn, which must fail with gRPC status `code`; returns the details."""
        try:
            fn()
        except self.grpc.RpcError as e:
            if e.code() != code:
                raise Failure(f"expected {code}, got {e.code()}: {e.details()}")
            return e.details() or ""
        raise Failure(f"expected {code}, but the call succeeded")


class Failure(Exception):
    pass


def new_uid():
    return "%08x-%04x-4%03x-a%03x-%012x" % (
        secrets.randbits(32), secrets.randbits(16), secrets.randbits(12), secrets.randbits(12), secrets.randbits(48)
    )


def expect(cond, what):
    if not cond:
        raise Failure(what)


def healthy_status(c):
    s = c.status()
    expect(s.version == "v2", f"Status version is {s.version!r}, not 'v2'")
    expect(s.healthz == "ok", f"Status healthz is {s.healthz!r}, not 'ok'")
    expect(0 < len(s.key_id.encode()) <= MAX_KEY_ID, f"Status key_id has {len(s.key_id)} bytes")
    return s


def check(c, other, report):
    status = healthy_status(c)
    key_id = status.key_id
    report("status: version v2, healthz ok, key id present")

    for n in (1, 16, 32, 100, 512):
        pt = secrets.token_bytes(n)
        ct, kid, ann = c.encrypt(pt)
        expect(kid == key_id, f"Encrypt key_id {kid!r} is not Status's {key_id!r}")
        expect(0 < len(ct) <= MAX_CIPHERTEXT, f"ciphertext of a {n}-byte plaintext is {len(ct)} bytes")
        # (A short random plaintext can occur in random ciphertext by chance: check from 16 bytes.)
        expect(n < 16 or pt not in ct, "the plaintext shows in the ciphertext")
        for k in ann:
            expect("." in k, f"annotation key {k!r} is not a fully qualified domain name")
        expect(c.decrypt(ct, kid) == pt, f"a {n}-byte round trip gave another plaintext")
    report("round trips of 1 to 512 bytes under the current key id")

    seed = secrets.token_bytes(32)
    ct1, _, _ = c.encrypt(seed)
    ct2, _, _ = c.encrypt(seed)
    expect(ct1 != ct2, "encrypting the same seed twice gave the same ciphertext")
    report("two encryptions of one seed differ")

    c.refused(lambda: c.decrypt(ct1, "unknown-" + key_id[:32]), c.grpc.StatusCode.INVALID_ARGUMENT)
    c.refused(lambda: c.decrypt(ct1, ""), c.grpc.StatusCode.INVALID_ARGUMENT)
    report("unknown and empty key ids refused (INVALID_ARGUMENT)")

    tampered = bytearray(ct1)
    tampered[len(tampered) // 2] ^= 0x01
    c.refused(lambda: c.decrypt(bytes(tampered), key_id), c.grpc.StatusCode.INVALID_ARGUMENT)
    c.refused(lambda: c.decrypt(ct1[:-1], key_id), c.grpc.StatusCode.INVALID_ARGUMENT)
    report("tampered and truncated ciphertexts refused (INVALID_ARGUMENT)")

    c.refused(lambda: c.encrypt(b""), c.grpc.StatusCode.INVALID_ARGUMENT)
    report("empty plaintext refused (INVALID_ARGUMENT)")

    if other is not None:
        o_status = healthy_status(other)
        expect(o_status.key_id != key_id, "the other plugin's key has the same key id")
        pt = secrets.token_bytes(32)
        o_ct, o_kid, _ = other.encrypt(pt)
        expect(other.decrypt(o_ct, o_kid) == pt, "the other plugin's own round trip failed")
        c.refused(lambda: c.decrypt(o_ct, o_kid), c.grpc.StatusCode.INVALID_ARGUMENT)
        c.refused(lambda: c.decrypt(o_ct, key_id), c.grpc.StatusCode.INVALID_ARGUMENT)
        other.refused(lambda: other.decrypt(ct1, key_id), c.grpc.StatusCode.INVALID_ARGUMENT)
        report("another key's ciphertext refused, under its key id and under ours")


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["check", "status", "encrypt", "decrypt"])
    ap.add_argument("socket")
    ap.add_argument("file", nargs="?")
    ap.add_argument("--other", help="check: the socket of a plugin backed by another key")
    ap.add_argument("--expect-stale", action="store_true", help="decrypt: the key must have rotated since")
    args = ap.parse_args()
    if args.mode in ("encrypt", "decrypt") and not args.file:
        ap.error(f"{args.mode} needs FILE")

    import grpc

    with tempfile.TemporaryDirectory() as tmp:
        pb, pb_grpc = compile_stubs(tmp)
        c = Client(grpc, pb, pb_grpc, args.socket)
        passed = []

        def report(what):
            passed.append(what)
            print(f"ok: {what}", flush=True)

        try:
            if args.mode == "check":
                other = Client(grpc, pb, pb_grpc, args.other) if args.other else None
                try:
                    check(c, other, report)
                finally:
                    if other is not None:
                        other.channel.close()
            elif args.mode == "status":
                s = healthy_status(c)
                print(json.dumps({"version": s.version, "healthz": s.healthz, "key_id": s.key_id}))
            elif args.mode == "encrypt":
                pt = secrets.token_bytes(32)
                ct, kid, _ = c.encrypt(pt)
                expect(kid == healthy_status(c).key_id, "Encrypt's key id is not Status's")
                b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
                write_private(args.file, json.dumps({"plaintext": b64(pt), "ciphertext": b64(ct), "key_id": kid}))
                report(f"encrypted a seed under key id {kid}")
            else:
                with open(args.file) as f:
                    saved = json.load(f)
                pt = c.decrypt(base64.b64decode(saved["ciphertext"]), saved["key_id"])
                expect(pt == base64.b64decode(saved["plaintext"]), "the saved ciphertext decrypted to another plaintext")
                if args.expect_stale:
                    current = healthy_status(c).key_id
                    expect(current != saved["key_id"], "the key id did not change (no rotation seen)")
                report(f"decrypted the saved seed under key id {saved['key_id']}")
        except Failure as e:
            print(f"FAILED: {e}", file=sys.stderr)
            sys.exit(1)
        except grpc.RpcError as e:
            print(f"FAILED: gRPC {e.code()}: {e.details()}", file=sys.stderr)
            sys.exit(1)
        finally:
            c.channel.close()


if __name__ == "__main__":
    main()
