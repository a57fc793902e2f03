internal import CNATSOpenSSL

/// A client TLS context: one OpenSSL `SSL_CTX` built from a ``TLSConfiguration``.
///
/// Building reads every certificate and key file, so it does blocking disk I/O; after
/// that the context is immutable and may be shared by any number of connections on any
/// thread. Build a new one to pick up rotated files.
///
/// `@unchecked Sendable`: no lock; the `SSL_CTX` is configured in `init` and only read after
/// (OpenSSL makes creating sessions from a shared context thread-safe).
public final class TLSContext: @unchecked Sendable {
    // No lock: `ctx` is only configured inside init; afterwards OpenSSL only reads it and
    // guards its own reference counts and caches.
    let ctx: OpaquePointer
    let configuration: TLSConfiguration
    let hasClientCertificate: Bool

    /// Builds the context: loads the provider, trust roots, client certificate and key.
    ///
    /// - Throws: ``TLSError`` of kind ``TLSError/Kind/invalidCertificate``,
    ///   ``TLSError/Kind/invalidKey`` (naming the file), ``TLSError/Kind/invalidConfiguration``
    ///   or ``TLSError/Kind/fipsUnavailable``.
    public init(configuration: TLSConfiguration) throws(TLSError) {
        ERR_clear_error()
        let ctx = try makeContext(method: TLS_client_method(), provider: configuration.provider)
        do throws(TLSError) {
            try applyProtocolSettings(
                ctx,
                minimum: configuration.minimumVersion,
                maximum: configuration.maximumVersion,
                cipherList: configuration.cipherList,
                cipherSuites: configuration.cipherSuites
            )
            let verify = configuration.certificateVerification == .none ? SSL_VERIFY_NONE : SSL_VERIFY_PEER
            SSL_CTX_set_verify(ctx, verify, nil)
            if configuration.useSystemRoots, SSL_CTX_set_default_verify_paths(ctx) != 1 {
                throw TLSError(.invalidConfiguration, "cannot load the system trust roots", reason: OpenSSL.drainErrors())
            }
            for source in configuration.additionalTrustRoots {
                try addTrustRoots(ctx, source)
            }
            switch (configuration.clientCertificate, configuration.clientKey) {
            case (nil, nil):
                hasClientCertificate = false
            case (let certificate, let key?):
                try applyCertificateAndKey(ctx, certificate: certificate, key: key)
                hasClientCertificate = true
            case (.some, nil):
                throw TLSError(.invalidConfiguration, "clientCertificate is set but clientKey is not; set both for mutual TLS")
            }
            SSL_CTX_set_client_cert_cb(ctx, clientCertificateRequestedCallback)
            if let customize = configuration.customizeContext {
                do {
                    try customize(ctx)
                } catch {
                    throw TLSError(.invalidConfiguration, "customizeContext failed: \(error)", reason: OpenSSL.drainErrors())
                }
            }
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        self.ctx = ctx
        self.configuration = configuration
    }

    deinit {
        SSL_CTX_free(ctx)
    }
}

/// A server TLS context, for tests and fake servers: a certificate chain and key, and
/// optionally the CA that client certificates must chain to.
public struct TLSServerContext: Sendable {
    final class Handle: @unchecked Sendable {
        // No lock: configured inside init, read-only afterwards (see TLSContext).
        let ctx: OpaquePointer
        init(_ ctx: OpaquePointer) { self.ctx = ctx }
        deinit { SSL_CTX_free(ctx) }
    }

    let handle: Handle

    /// Builds a server context.
    ///
    /// - Parameters:
    ///   - certificate: The server's certificate chain, leaf first.
    ///   - key: The server's private key.
    ///   - clientCertificateAuthority: Trusted roots for client certificates; when set,
    ///     clients are asked for a certificate.
    ///   - requireClientCertificate: Fail the handshake when the client sends no certificate.
    ///   - minimumVersion: Lowest TLS version accepted.
    ///   - maximumVersion: Highest TLS version accepted.
    /// - Throws: ``TLSError`` when a file or setting is invalid.
    public init(
        certificate: TLSCertificateSource,
        key: TLSKeySource,
        clientCertificateAuthority: TLSCertificateSource? = nil,
        requireClientCertificate: Bool = false,
        minimumVersion: TLSVersion = .v1_2,
        maximumVersion: TLSVersion = .v1_3
    ) throws(TLSError) {
        ERR_clear_error()
        let ctx = try makeContext(method: TLS_server_method(), provider: .default)
        do throws(TLSError) {
            try applyProtocolSettings(ctx, minimum: minimumVersion, maximum: maximumVersion, cipherList: nil, cipherSuites: nil)
            try applyCertificateAndKey(ctx, certificate: certificate, key: key)
            let sessionContext: [UInt8] = Array("nats".utf8)
            _ = SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count))
            var verify = SSL_VERIFY_NONE
            if let clientCertificateAuthority {
                try addTrustRoots(ctx, clientCertificateAuthority)
                verify = SSL_VERIFY_PEER
            }
            if requireClientCertificate {
                verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
            }
            SSL_CTX_set_verify(ctx, verify, nil)
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        handle = Handle(ctx)
    }
}

// MARK: - Building blocks shared by client and server contexts

/// Creates an `SSL_CTX` for `method`, in FIPS mode when asked.
private func makeContext(method: OpaquePointer?, provider: TLSCryptoProvider) throws(TLSError) -> OpaquePointer {
    var ctx: OpaquePointer?
    switch provider.kind {
    case .default:
        ctx = SSL_CTX_new(method)
    case .fips:
        try FIPSProvider.load()
        ctx = SSL_CTX_new_ex(nil, "fips=yes", method)
    }
    guard let ctx else {
        throw TLSError(
            provider.kind == .fips ? .fipsUnavailable : .other,
            "cannot create an OpenSSL context",
            reason: OpenSSL.drainErrors()
        )
    }
    return ctx
}

/// Loads OpenSSL's FIPS provider into the default library context once.
private enum FIPSProvider {
    static func load() throws(TLSError) {
        if OSSL_PROVIDER_available(nil, "fips") == 1 { return }
        // try_load with retain_fallbacks keeps the default provider usable for everyone else.
        guard OSSL_PROVIDER_try_load(nil, "fips", 1) != nil else {
            throw TLSError(
                .fipsUnavailable,
                "the OpenSSL FIPS provider is not installed or not configured (fips.so and its fipsmodule.cnf); install a FIPS-validated OpenSSL or use the default provider",
                reason: OpenSSL.drainErrors()
            )
        }
        ERR_clear_error()
    }
}

private func applyProtocolSettings(
    _ ctx: OpaquePointer,
    minimum: TLSVersion,
    maximum: TLSVersion,
    cipherList: String?,
    cipherSuites: String?
) throws(TLSError) {
    guard minimum <= maximum else {
        throw TLSError(.invalidConfiguration, "minimumVersion \(minimum) is above maximumVersion \(maximum)")
    }
    guard CNATSOpenSSL_SSL_CTX_set_min_proto_version(ctx, minimum.rawValue) == 1,
        CNATSOpenSSL_SSL_CTX_set_max_proto_version(ctx, maximum.rawValue) == 1
    else {
        throw TLSError(.invalidConfiguration, "cannot set the TLS version range", reason: OpenSSL.drainErrors())
    }
    _ = CNATSOpenSSL_SSL_CTX_set_options(ctx, CNATSOpenSSL_SSL_OP_NO_RENEGOTIATION() | CNATSOpenSSL_SSL_OP_NO_COMPRESSION())
    _ = CNATSOpenSSL_SSL_CTX_set_mode(ctx, CNATSOpenSSL_SSL_MODE_RELEASE_BUFFERS())
    if let cipherList, SSL_CTX_set_cipher_list(ctx, cipherList) != 1 {
        throw TLSError(.invalidConfiguration, "no usable cipher in cipherList '\(cipherList)'", reason: OpenSSL.drainErrors())
    }
    if let cipherSuites, SSL_CTX_set_ciphersuites(ctx, cipherSuites) != 1 {
        throw TLSError(.invalidConfiguration, "no usable suite in cipherSuites '\(cipherSuites)'", reason: OpenSSL.drainErrors())
    }
}

private func addTrustRoots(_ ctx: OpaquePointer, _ source: TLSCertificateSource) throws(TLSError) {
    let certificates = try OpenSSL.loadCertificates(source)
    defer { certificates.forEach { X509_free($0) } }
    guard let store = SSL_CTX_get_cert_store(ctx) else {
        throw TLSError(.other, "the context has no certificate store", reason: OpenSSL.drainErrors())
    }
    for certificate in certificates {
        // Adding a certificate that is already there is not an error worth reporting.
        _ = X509_STORE_add_cert(store, certificate)
    }
    ERR_clear_error()
}

/// Installs a certificate chain (leaf first) and its private key. With a PKCS#12 key and
/// no certificate, the bundle's own chain is used.
private func applyCertificateAndKey(_ ctx: OpaquePointer, certificate: TLSCertificateSource?, key: TLSKeySource) throws(TLSError) {
    let loaded = try OpenSSL.loadKey(key)
    defer { loaded.free() }
    var chain: [OpaquePointer] = []
    if let certificate {
        chain = try OpenSSL.loadCertificates(certificate)
    } else {
        for cert in loaded.certificates where X509_up_ref(cert) == 1 {
            chain.append(cert)
        }
    }
    defer { chain.forEach { X509_free($0) } }
    guard let leaf = chain.first else {
        throw TLSError(.invalidConfiguration, "no certificate for the private key \(key); set the certificate or use a PKCS#12 bundle that holds one")
    }
    guard SSL_CTX_use_certificate(ctx, leaf) == 1 else {
        throw TLSError(.invalidCertificate, "OpenSSL refused the certificate \(certificate.map { "\($0)" } ?? "from \(key)")", reason: OpenSSL.drainErrors())
    }
    for intermediate in chain.dropFirst() {
        guard CNATSOpenSSL_SSL_CTX_add1_chain_cert(ctx, intermediate) == 1 else {
            throw TLSError(.invalidCertificate, "OpenSSL refused an intermediate certificate", reason: OpenSSL.drainErrors())
        }
    }
    guard X509_check_private_key(leaf, loaded.key) == 1 else {
        throw TLSError(.invalidKey, "the private key \(key) does not match the certificate", reason: OpenSSL.drainErrors())
    }
    guard SSL_CTX_use_PrivateKey(ctx, loaded.key) == 1 else {
        throw TLSError(.invalidKey, "OpenSSL refused the private key \(key)", reason: OpenSSL.drainErrors())
    }
    guard SSL_CTX_check_private_key(ctx) == 1 else {
        throw TLSError(.invalidKey, "the private key \(key) does not match the certificate", reason: OpenSSL.drainErrors())
    }
}

/// Called by OpenSSL when the server asks for a client certificate and none is configured.
/// Records the request so a later handshake failure can be reported as
/// ``TLSError/Kind/clientCertificateRequired``; returns 0 to send no certificate.
private let clientCertificateRequestedCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?, UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 = { ssl, _, _ in
    if let ssl, let session = CNATSOpenSSL_SSL_get_app_data(ssl) {
        Unmanaged<TLSSession>.fromOpaque(session).takeUnretainedValue().clientCertificateRequested = true
    }
    return 0
}
