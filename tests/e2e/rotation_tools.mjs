// What the order system's own libraries make, for tests/e2e/test_rotation.py:
// tokens signed by npm's jose, webhooks signed and events verified by npm's
// standardwebhooks (the reference implementation). One JSON argument in,
// one line out.
//   {"op":"jwt","secret":S,"kid":K|null,"aud":A|null,"claims":{...}}  -> token
//   {"op":"sign","secret":whsec,"id":I,"ts":T,"body":B}                -> v1,...
//   {"op":"verify","secret":whsec,"id":I,"ts":T,"sig":V,"body":B}      -> ok|bad
import { SignJWT } from "jose";
import { Webhook } from "standardwebhooks";

const a = JSON.parse(process.argv[2]);
if (a.op === "jwt") {
  const header = { alg: "HS256" };
  if (a.kid) header.kid = a.kid;
  let j = new SignJWT(a.claims).setProtectedHeader(header);
  if (a.aud) j = j.setAudience(a.aud);
  console.log(await j.sign(new TextEncoder().encode(a.secret)));
} else if (a.op === "sign") {
  console.log(new Webhook(a.secret).sign(a.id, new Date(a.ts * 1000), a.body));
} else if (a.op === "verify") {
  try {
    new Webhook(a.secret).verify(a.body, {
      "webhook-id": a.id, "webhook-timestamp": String(a.ts), "webhook-signature": a.sig,
    });
    console.log("ok");
  } catch (e) {
    console.log("bad");
  }
}
