/* The evidence bundle's signed byte string (GET /v1/orders/{order}/evidence,
 * filigrane evidence verify, the README's openssl recipe).
 *
 *   "filigrane-evidence-v1\n" ns(order_id) ns(head_seq) ns(head_hash)
 *   ns(issued_at)
 *
 * ns is the netstring of storage/audit.h (<byte length>:<bytes>,);
 * head_seq is decimal ("0" for an empty chain), head_hash the lowercase
 * hex hash of the chain's last entry (STORE_AUDIT_GENESIS when empty),
 * issued_at RFC 3339 UTC. The signature (Ed25519, common/sign.h) covers
 * these bytes only: the entries are bound to them through the hash
 * chain, which a verifier recomputes from the first entry to the head.
 * The bundle's "order" object is a convenience for readers and is not
 * signed. */
#ifndef FG_EVIDENCE_H
#define FG_EVIDENCE_H

#include <stddef.h>

#define FG_EVIDENCE_FORMAT "filigrane-evidence-v1"
#define FG_EVIDENCE_SIGNED_MAX 1024

/* Writes the signed bytes into out (cap bytes) and returns their length,
 * or 0 if they do not fit (a field far longer than any id or time). */
size_t fg_evidence_signed(const char *order_id, long long head_seq, const char *head_hash,
                          const char *issued_at, char *out /* out */, size_t cap);

#endif
