// Standard Webhooks verification in Node.js (node:crypto only) -- the function docs/webhooks.md shows.
// Test driver: reads {"secret", "body_b64", "headers": {...}} on stdin, prints "verified" or exits 1.
const crypto = require("node:crypto");

function verify(secret, headers, rawBody, toleranceSeconds = 300) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) {
    throw new Error("timestamp outside the tolerance");
  }
  const key = secret.startsWith("whsec_")
    ? Buffer.from(secret.slice("whsec_".length), "base64")
    : Buffer.from(secret, "utf8");
  const expected = crypto.createHmac("sha256", key).update(`${id}.${timestamp}.`).update(rawBody).digest();
  const ok = headers["webhook-signature"].split(" ").some((candidate) => {
    const [version, signature] = candidate.split(",");
    if (version !== "v1" || !signature) return false;
    const offered = Buffer.from(signature, "base64");
    return offered.length === expected.length && crypto.timingSafeEqual(offered, expected);
  });
  if (!ok) throw new Error("no valid signature");
}

if (require.main === module) {
  let input = "";
  process.stdin.on("data", (d) => (input += d));
  process.stdin.on("end", () => {
    const c = JSON.parse(input);
    try {
      verify(c.secret, c.headers, Buffer.from(c.body_b64, "base64"));
      console.log("verified");
    } catch (e) {
      console.error(e.message);
      process.exit(1);
    }
  });
}
