# Standard Webhooks verification in Python (stdlib only) -- the function docs/webhooks.md shows.
# Test driver: reads {"secret", "body_b64", "headers": {...}} on stdin, prints "verified" or exits 1.
import base64, hashlib, hmac, json, sys, time

def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> None:
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        raise ValueError("timestamp outside the tolerance")
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise ValueError("no valid signature")

if __name__ == "__main__":
    case = json.load(sys.stdin)
    try:
        verify(case["secret"], case["headers"], base64.b64decode(case["body_b64"]))
    except ValueError as e:
        sys.exit(str(e))
    print("verified")
