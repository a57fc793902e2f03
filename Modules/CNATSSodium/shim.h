// System libsodium (libsodium-dev): Ed25519 for NKeys, sodium_memzero for secrets.
#ifndef CNATSSODIUM_SHIM_H
#define CNATSSODIUM_SHIM_H
#include <sodium.h>
#endif
