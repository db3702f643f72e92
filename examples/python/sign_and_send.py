"""Sign a request with Standard Webhooks and POST it to the galxe-lambda API.

    API_URL=... WEBHOOK_SECRET=whsec_... python3 sign_and_send.py [PATH [BODY]]

API_URL is the stack's ApiUrl output (or the API URL `make up` prints);
WEBHOOK_SECRET is the value of the /galxe-lambda/webhook-secret parameter.
Standard library only, as the Standard Webhooks spec signs: HMAC-SHA256 over
"id.timestamp.body", keyed with the base64-decoded secret after "whsec_",
sent as "v1,<base64>".
"""
import base64, hashlib, hmac, os, sys, time, uuid
import urllib.error, urllib.parse, urllib.request

api_url, secret = os.environ.get("API_URL"), os.environ.get("WEBHOOK_SECRET")
if not api_url or not secret:
    sys.exit("set API_URL and WEBHOOK_SECRET")
path = sys.argv[1] if len(sys.argv) > 1 else "/operations/credential"
body = (sys.argv[2] if len(sys.argv) > 2 else '{"variables":{"id":"380512468497932288"}}').encode()

msg_id, timestamp = "msg_" + uuid.uuid4().hex, str(int(time.time()))
key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
headers = {
    "content-type": "application/json",
    "webhook-id": msg_id,
    "webhook-timestamp": timestamp,
    "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
}
request = urllib.request.Request(urllib.parse.urljoin(api_url, path), data=body, headers=headers, method="POST")
try:
    with urllib.request.urlopen(request) as response:
        status, answer = response.status, response.read()
except urllib.error.HTTPError as error:  # a 4xx or 5xx is an answer too
    status, answer = error.code, error.read()
print(status)
print(answer.decode())
