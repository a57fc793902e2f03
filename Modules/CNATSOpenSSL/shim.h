// System OpenSSL 3 (libssl-dev). Macros the clang importer cannot bring into
// Swift are wrapped here as prefixed static inline functions.
#ifndef CNATSOPENSSL_SHIM_H
#define CNATSOPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/rand.h>
#include <openssl/provider.h>

static inline long CNATSOpenSSL_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long CNATSOpenSSL_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}
static inline long CNATSOpenSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}
static inline long CNATSOpenSSL_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long CNATSOpenSSL_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}
static inline int CNATSOpenSSL_BIO_set_mem_eof_return(BIO *bio, int v) {
    return (int)BIO_set_mem_eof_return(bio, v);
}
static inline int CNATSOpenSSL_sk_X509_num(const STACK_OF(X509) *sk) {
    return sk_X509_num(sk);
}
static inline X509 *CNATSOpenSSL_sk_X509_value(const STACK_OF(X509) *sk, int i) {
    return sk_X509_value(sk, i);
}
static inline int CNATSOpenSSL_sk_GENERAL_NAME_num(const STACK_OF(GENERAL_NAME) *sk) {
    return sk_GENERAL_NAME_num(sk);
}
static inline GENERAL_NAME *CNATSOpenSSL_sk_GENERAL_NAME_value(const STACK_OF(GENERAL_NAME) *sk, int i) {
    return sk_GENERAL_NAME_value(sk, i);
}
static inline void CNATSOpenSSL_GENERAL_NAMES_free(GENERAL_NAMES *names) {
    GENERAL_NAMES_free(names);
}
static inline void CNATSOpenSSL_sk_X509_pop_free(STACK_OF(X509) *sk) {
    sk_X509_pop_free(sk, X509_free);
}
static inline int CNATSOpenSSL_ERR_GET_LIB(unsigned long e) { return ERR_GET_LIB(e); }
static inline int CNATSOpenSSL_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }

static inline long CNATSOpenSSL_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509) {
    return SSL_CTX_add1_chain_cert(ctx, x509);
}
static inline long CNATSOpenSSL_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return (long)SSL_CTX_set_options(ctx, options);
}
static inline uint64_t CNATSOpenSSL_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t CNATSOpenSSL_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline long CNATSOpenSSL_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
static inline int CNATSOpenSSL_SSL_set_app_data(SSL *ssl, void *data) {
    return SSL_set_app_data(ssl, data);
}
static inline void *CNATSOpenSSL_SSL_get_app_data(const SSL *ssl) {
    return SSL_get_app_data(ssl);
}
static inline size_t CNATSOpenSSL_BIO_pending(BIO *bio) {
    return BIO_ctrl_pending(bio);
}
static inline unsigned long CNATSOpenSSL_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }
static inline void CNATSOpenSSL_OPENSSL_free(void *ptr) { OPENSSL_free(ptr); }
static inline int CNATSOpenSSL_sk_X509_NAME_num(const STACK_OF(X509_NAME) *sk) {
    return sk_X509_NAME_num(sk);
}
/// The SANs of `cert`: calls `each(type, bytes, length, context)` for every DNS name
/// (type GEN_DNS, ASCII) and IP address (type GEN_IPADD, 4 or 16 raw bytes).
static inline void CNATSOpenSSL_X509_forEachSAN(
    X509 *cert,
    void (*each)(int type, const unsigned char *bytes, int length, void *context),
    void *context
) {
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return;
    int count = sk_GENERAL_NAME_num(names);
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_DNS) {
            each(GEN_DNS, ASN1_STRING_get0_data(name->d.dNSName), ASN1_STRING_length(name->d.dNSName), context);
        } else if (name->type == GEN_IPADD) {
            each(GEN_IPADD, ASN1_STRING_get0_data(name->d.iPAddress), ASN1_STRING_length(name->d.iPAddress), context);
        }
    }
    GENERAL_NAMES_free(names);
}

#endif
