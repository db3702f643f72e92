// Sign a request with Standard Webhooks and POST it to the galxe-lambda API.
//
//   npm ci   # once, here
//   API_URL=… WEBHOOK_SECRET=whsec_… node sign-and-send.mjs [PATH [BODY]]
//
// API_URL is the stack's ApiUrl output (or the API URL `make up` prints);
// WEBHOOK_SECRET is the value of the /galxe-lambda/webhook-secret parameter.
import { randomUUID } from "node:crypto";
import { Webhook } from "standardwebhooks";

const { API_URL, WEBHOOK_SECRET } = process.env;
if (!API_URL || !WEBHOOK_SECRET) {
  console.error("set API_URL and WEBHOOK_SECRET");
  process.exit(2);
}
const path = process.argv[2] ?? "/operations/credential";
const body = process.argv[3] ?? JSON.stringify({ variables: { id: "380512468497932288" } });

// The signature covers "id.timestamp.body": send the body exactly as signed.
const id = `msg_${randomUUID()}`;
const now = new Date();
const res = await fetch(new URL(path, API_URL), {
  method: "POST",
  headers: {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": new Webhook(WEBHOOK_SECRET).sign(id, now, body),
  },
  body,
});
console.log(res.status);
console.log(await res.text());
