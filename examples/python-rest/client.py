#!/usr/bin/env python3
"""A REST client of an agora relay, using only the Python standard library.

It registers without sending its private key (the relay's challenge is signed locally), sends
one signed envelope, polls until the recipient replies, and disconnects:

    python3 client.py --rest http://127.0.0.1:9471 --to 302a3005...  --text hello
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

import agora_envelope


class RelayError(Exception):
    """An HTTP error status returned by the relay, with its JSON body."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def call(base, method, path, body=None, token=None):
    """Sends one request and returns the decoded JSON response."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:
        raise RelayError(err.code, json.loads(err.read() or b"{}")) from None


def register(base, seed):
    """Registers the key of seed with a signed challenge and returns the session token."""
    challenge = call(base, "POST", "/v1/challenge")
    signature = agora_envelope.sign(seed, challenge["challenge"].encode())
    public_key = agora_envelope.spki_hex(agora_envelope.public_key(seed))
    reply = call(base, "POST", "/v1/register", {
        "publicKey": public_key,
        "nonce": challenge["nonce"],
        "signature": signature.hex(),
    })
    return public_key, reply["token"]


def wait_for_reply(base, token, request_id, timeout):
    """Polls GET /v1/messages until a message replies to request_id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in call(base, "GET", "/v1/messages", token=token)["messages"]:
            if msg.get("inReplyTo") == request_id:
                return msg
        time.sleep(0.2)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest", required=True, help="REST URL of the relay, such as http://127.0.0.1:9471")
    parser.add_argument("--to", required=True, help="recipient public key (SPKI hex)")
    parser.add_argument("--text", default="hello", help="text of the request")
    parser.add_argument("--timeout", type=float, default=10, help="seconds to wait for the reply")
    args = parser.parse_args()

    seed = os.urandom(32)
    public_key, token = register(args.rest, seed)
    print(json.dumps({"event": "registered", "publicKey": public_key}), flush=True)
    try:
        envelope = agora_envelope.create_envelope(seed, "request", [args.to], {"text": args.text})
        sent = call(args.rest, "POST", "/v1/send", {"to": args.to, "envelope": envelope}, token)
        print(json.dumps({"event": "sent", "id": sent["envelopeId"]}), flush=True)
        reply = wait_for_reply(args.rest, token, envelope["id"], args.timeout)
        if reply is None:
            print(json.dumps({"event": "timeout"}), flush=True)
            return 1
        print(json.dumps({"event": "reply", "from": reply["from"], "payload": reply["payload"]}), flush=True)
        return 0
    except RelayError as err:
        print(json.dumps({"event": "error", "status": err.status, "body": err.body}), flush=True)
        return 1
    finally:
        call(args.rest, "DELETE", "/v1/disconnect", token=token)
        print(json.dumps({"event": "disconnected"}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
