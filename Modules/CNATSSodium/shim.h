// System libsodium (libsodium-dev): Ed25519 for NKeys, sodium_memzero for secrets.
#ifndef CNATSSODIUM_SHIM_H
#define CNATSSODIUM_SHIM_H
#include <sodium.h>
#include <string.h>

// SHA-512/256 (FIPS 180-4 5.3.6.2): SHA-512 with its own initial hash value, truncated to
// 32 bytes. libsodium 1.0.18 has no entry point for it, but its SHA-512 state struct is
// public: start a SHA-512, replace the initial state, then hash as usual. nats-io/jwt uses
// this digest for a JWT's `jti`.
static inline void CNATSSodium_sha512_256(unsigned char out[32],
                                          const unsigned char *in,
                                          unsigned long long inlen) {
    static const uint64_t iv[8] = {
        0x22312194FC2BF72CULL, 0x9F555FA3C84C64C2ULL, 0x2393B86B6F53B151ULL,
        0x963877195940EABDULL, 0x96283EE2A88EFFE3ULL, 0xBE5E1E2553863992ULL,
        0x2B0199FC2C85B8AAULL, 0x0EB72DDC81C52CA2ULL,
    };
    crypto_hash_sha512_state st;
    unsigned char full[64];
    crypto_hash_sha512_init(&st);
    memcpy(st.state, iv, sizeof iv);
    crypto_hash_sha512_update(&st, in, inlen);
    crypto_hash_sha512_final(&st, full);
    memcpy(out, full, 32);
    sodium_memzero(full, sizeof full);
    sodium_memzero(&st, sizeof st);
}

#endif
