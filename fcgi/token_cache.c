#include "fcgi/token_cache.h"

#include <openssl/crypto.h>
#include <string.h>

/* A handful per thread: the tokens of the pages being browsed right now. */
#define SLOTS 8
/* Our own tokens are about 250 bytes; a longer one is simply verified. */
#define SLOT_BYTES 1024

typedef struct slot {
    size_t len; /* 0: empty */
    unsigned long long generation;
    char token[SLOT_BYTES];
    struct fcgi_claims claims;
} slot;

static __thread slot slots[SLOTS];
static __thread unsigned next_victim;

bool fcgi_token_cache_get(const char *token, long long now, unsigned long long generation,
                          struct fcgi_claims *out)
{
    size_t len = strnlen(token, SLOT_BYTES);
    if (len == 0 || len >= SLOT_BYTES)
        return false;
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &slots[i];
        if (s->len != len || CRYPTO_memcmp(s->token, token, len) != 0)
            continue;
        if (s->generation != generation) {
            s->len = 0;
            return false;
        }
        /* The same rule as fcgi_jwt_verify: expired once now, minus the
         * skew, reaches exp. */
        if (now - FG_JWT_CLOCK_SKEW_SECONDS >= s->claims.exp) {
            s->len = 0;
            return false;
        }
        *out = s->claims;
        return true;
    }
    return false;
}

void fcgi_token_cache_put(const char *token, unsigned long long generation,
                          const struct fcgi_claims *claims)
{
    size_t len = strnlen(token, SLOT_BYTES);
    if (len == 0 || len >= SLOT_BYTES)
        return;
    slot *s = &slots[next_victim++ % SLOTS];
    memcpy(s->token, token, len);
    s->len = len;
    s->generation = generation;
    s->claims = *claims;
}
