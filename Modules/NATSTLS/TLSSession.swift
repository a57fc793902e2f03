internal import CNATSOpenSSL
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The sans-I/O TLS engine: one `SSL*` with two memory BIOs. Ciphertext goes in with
/// ``feed(_:)``, out with ``drainCiphertext()``; nothing here does I/O or awaits.
///
/// Not thread-safe: `TLSStream` keeps it inside a `Mutex` and calls it only under the lock.
final class TLSSession {
    enum Step {
        case complete
        case wantRead
        case failed(TLSError)
    }

    enum ReadResult {
        /// Plaintext was appended, or nothing is buffered yet (`wantRead`).
        case wantRead
        /// The peer sent close_notify.
        case closed
        case failed(TLSError)
    }

    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    let isClient: Bool
    let hasOwnCertificate: Bool
    let serverHostname: String?
    /// Set by OpenSSL's client-certificate callback (under the stream's lock, inside
    /// `SSL_do_handshake`).
    var clientCertificateRequested = false
    private(set) var shutdownSent = false
    private(set) var fatal = false
    // Keeps the SSL_CTX alive while `ssl` uses it (SSL_new also up-refs it).
    private let contextOwner: AnyObject

    private init(ctx: OpaquePointer, owner: AnyObject, isClient: Bool, hasOwnCertificate: Bool, serverHostname: String?) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(ctx) else {
            throw TLSError(.other, "cannot create an OpenSSL connection", reason: OpenSSL.drainErrors())
        }
        guard let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.other, "cannot create memory BIOs", reason: OpenSSL.drainErrors())
        }
        // An empty read BIO means "no data yet" (retry), never end of file.
        _ = CNATSOpenSSL_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)  // ssl owns both BIOs from here on
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.isClient = isClient
        self.hasOwnCertificate = hasOwnCertificate
        self.serverHostname = serverHostname
        self.contextOwner = owner
        // Unretained back-pointer for the client-certificate callback; `ssl` never outlives self.
        _ = CNATSOpenSSL_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
        if isClient { SSL_set_connect_state(ssl) } else { SSL_set_accept_state(ssl) }
    }

    /// A client session for `context`, verifying `hostname` (DNS name or IP literal).
    static func client(context: TLSContext, hostname: String?) throws(TLSError) -> TLSSession {
        var name = hostname.flatMap { $0.isEmpty ? nil : $0 }
        if let n = name, n.hasPrefix("["), n.hasSuffix("]") { name = String(n.dropFirst().dropLast()) }
        let session = try TLSSession(
            ctx: context.ctx,
            owner: context,
            isClient: true,
            hasOwnCertificate: context.hasClientCertificate,
            serverHostname: name
        )
        try session.configureHostname(name, verify: context.configuration.certificateVerification)
        return session
    }

    /// A server session for `context`.
    static func server(context: TLSServerContext) throws(TLSError) -> TLSSession {
        try TLSSession(ctx: context.handle.ctx, owner: context.handle, isClient: false, hasOwnCertificate: true, serverHostname: nil)
    }

    deinit {
        SSL_free(ssl)  // frees both BIOs
    }

    private func configureHostname(_ name: String?, verify: CertificateVerification) throws(TLSError) {
        guard let name else {
            if verify == .fullVerification {
                throw TLSError(
                    .invalidConfiguration,
                    "no server host name to verify the certificate against; pass serverHostname, set serverNameOverride, or use .noHostnameVerification"
                )
            }
            return
        }
        var isIPAddress = false
        if verify == .fullVerification {
            guard let param = SSL_get0_param(ssl) else {
                throw TLSError(.other, "cannot configure host name verification", reason: OpenSSL.drainErrors())
            }
            X509_VERIFY_PARAM_set_hostflags(param, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            if X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1 {
                isIPAddress = true
            } else {
                ERR_clear_error()
                guard X509_VERIFY_PARAM_set1_host(param, name, 0) == 1 else {
                    throw TLSError(.invalidConfiguration, "'\(name)' is not a valid host name", reason: OpenSSL.drainErrors())
                }
            }
        } else {
            isIPAddress = Self.isIPLiteral(name)
        }
        // SNI carries DNS names only (RFC 6066 §3), without a trailing dot.
        if !isIPAddress {
            let sni = name.hasSuffix(".") ? String(name.dropLast()) : name
            guard CNATSOpenSSL_SSL_set_tlsext_host_name(ssl, sni) == 1 else {
                throw TLSError(.invalidConfiguration, "'\(name)' cannot be sent as the TLS server name", reason: OpenSSL.drainErrors())
            }
        }
    }

    private static func isIPLiteral(_ name: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    // MARK: - Ciphertext in and out

    /// Hands ciphertext from the network to OpenSSL.
    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let chunk = Int32(clamping: raw.count - offset)
                guard let base = raw.baseAddress else { break }
                let written = BIO_write(readBIO, base + offset, chunk)
                if written <= 0 { break }  // memory BIO writes only fail when out of memory
                offset += Int(written)
            }
        }
    }

    /// Whether OpenSSL produced ciphertext that must be sent.
    var hasCiphertext: Bool { CNATSOpenSSL_BIO_pending(writeBIO) > 0 }

    /// Takes all ciphertext OpenSSL produced, in one buffer, or nil if there is none.
    func drainCiphertext() -> ByteBuffer? {
        let pending = CNATSOpenSSL_BIO_pending(writeBIO)
        guard pending > 0 else { return nil }
        var out = ByteBufferAllocator().buffer(capacity: pending)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { raw in
            let count = BIO_read(writeBIO, raw.baseAddress, Int32(clamping: min(raw.count, pending)))
            return max(0, Int(count))
        }
        return out.readableBytes > 0 ? out : nil
    }

    // MARK: - TLS operations (each: clear errors, call, map)

    /// One handshake step. Drain ciphertext afterwards in every case, so alerts reach the peer.
    func handshake() -> Step {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        let code = SSL_get_error(ssl, result)
        if code == SSL_ERROR_WANT_READ { return .wantRead }
        fatal = true
        return .failed(mapFailure(code, during: "handshake"))
    }

    /// Decrypts as much buffered data as fits into `buffer`'s writable space.
    func read(into buffer: inout ByteBuffer) -> ReadResult {
        while buffer.writableBytes > 0 {
            ERR_clear_error()
            var code: Int32 = SSL_ERROR_NONE
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { raw in
                var count = 0
                let ok = SSL_read_ex(ssl, raw.baseAddress, raw.count, &count)
                if ok != 1 {
                    code = SSL_get_error(ssl, ok)
                    return 0
                }
                return count
            }
            switch code {
            case SSL_ERROR_NONE:
                continue
            case SSL_ERROR_WANT_READ:
                return .wantRead
            case SSL_ERROR_ZERO_RETURN:
                return .closed
            default:
                fatal = true
                return .failed(mapFailure(code, during: "read"))
            }
        }
        return .wantRead
    }

    /// Bytes that can be decrypted without more input, as a capacity hint for reads.
    var bufferedInputHint: Int { Int(SSL_pending(ssl)) + CNATSOpenSSL_BIO_pending(readBIO) }

    /// Encrypts all of `bytes` into TLS records (appended to the outgoing ciphertext).
    func write(_ bytes: ByteBuffer) throws(TLSError) {
        var failure: TLSError?
        bytes.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                ERR_clear_error()
                guard let base = raw.baseAddress else { return }
                var written = 0
                let ok = SSL_write_ex(ssl, base + offset, raw.count - offset, &written)
                if ok != 1 {
                    let code = SSL_get_error(ssl, ok)
                    fatal = true
                    failure = mapFailure(code, during: "write")
                    return
                }
                offset += written
            }
        }
        if let failure { throw failure }
    }

    /// Queues a close_notify alert (once). Not sent after a fatal error, as OpenSSL requires.
    func shutdown() {
        guard !shutdownSent, !fatal, SSL_is_init_finished(ssl) == 1 else { return }
        shutdownSent = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Queues a TLS 1.3 KeyUpdate that asks the peer to update its keys too (tests use it
    /// to make the peer's `read()` produce ciphertext). Returns false if OpenSSL refused.
    func requestKeyUpdate() -> Bool {
        ERR_clear_error()
        let ok = SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) == 1
        ERR_clear_error()
        return ok
    }

    // MARK: - Connection facts

    var connectionInfo: TLSConnectionInfo {
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "unknown"
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        let subject = SSL_get0_peer_certificate(ssl).flatMap { OpenSSL.nameString(X509_get_subject_name($0)) }
        return TLSConnectionInfo(version: version, cipher: cipher, peerSubject: subject)
    }

    /// What the verification hook sees about the peer's certificate, or nil without one.
    var peerCertificateInfo: TLSPeerCertificateInfo? {
        guard let leaf = SSL_get0_peer_certificate(ssl) else { return nil }
        var names = SANCollector()
        withUnsafeMutablePointer(to: &names) { pointer in
            CNATSOpenSSL_X509_forEachSAN(leaf, sanCallback, pointer)
        }
        var chain: [[UInt8]] = []
        if let stack = SSL_get_peer_cert_chain(ssl) {
            for index in 0..<CNATSOpenSSL_sk_X509_num(stack) {
                if let cert = CNATSOpenSSL_sk_X509_value(stack, index) { chain.append(OpenSSL.derBytes(cert)) }
            }
        }
        let der = OpenSSL.derBytes(leaf)
        if chain.first != der { chain.insert(der, at: 0) }  // servers' chains omit the leaf
        return TLSPeerCertificateInfo(
            subject: OpenSSL.nameString(X509_get_subject_name(leaf)) ?? "",
            issuer: OpenSSL.nameString(X509_get_issuer_name(leaf)) ?? "",
            dnsNames: names.dns,
            ipAddresses: names.ips,
            der: der,
            chainDER: chain,
            serverHostname: serverHostname,
            chainVerified: SSL_get_verify_result(ssl) == Int(X509_V_OK)
        )
    }

    // MARK: - Error mapping

    private func mapFailure(_ code: Int32, during operation: String) -> TLSError {
        let verifyResult = SSL_get_verify_result(ssl)
        let reasonCode = OpenSSL.peekSSLReason()
        let reasons = OpenSSL.drainErrors()
        let peer = isClient ? "server" : "client"
        guard code == SSL_ERROR_SSL else {
            return TLSError(.other, "TLS \(operation) failed (SSL error \(code))", reason: reasons)
        }
        if reasonCode == SSL_R_CERTIFICATE_VERIFY_FAILED, verifyResult != Int(X509_V_OK) {
            return mapVerifyFailure(verifyResult, peer: peer, reasons: reasons)
        }
        let alertBase: Int32 = 1000  // SSL_AD_REASON_OFFSET: reason = 1000 + alert number
        switch reasonCode {
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED?, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE?:
            return TLSError(
                .clientCertificateRequired,
                isClient
                    ? "the server requires a client certificate; set clientCertificate and clientKey"
                    : "the client sent no certificate but one is required",
                reason: reasons
            )
        case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE? where isClient && clientCertificateRequested && !hasOwnCertificate:
            return TLSError(
                .clientCertificateRequired,
                "the server asked for a client certificate and refused the handshake without one; set clientCertificate and clientKey",
                reason: reasons
            )
        case (alertBase + Int32(SSL_AD_BAD_CERTIFICATE))?, (alertBase + Int32(SSL_AD_UNSUPPORTED_CERTIFICATE))?,
            (alertBase + Int32(SSL_AD_CERTIFICATE_REVOKED))?, (alertBase + Int32(SSL_AD_CERTIFICATE_EXPIRED))?,
            (alertBase + Int32(SSL_AD_CERTIFICATE_UNKNOWN))?, (alertBase + Int32(SSL_AD_UNKNOWN_CA))?,
            (alertBase + Int32(SSL_AD_ACCESS_DENIED))?:
            if hasOwnCertificate {
                return TLSError(
                    .peerRejectedCertificate,
                    "the \(peer) rejected our certificate; check that it is issued by a CA the \(peer) trusts and still valid",
                    reason: reasons
                )
            }
            return TLSError(
                .clientCertificateRequired,
                "the \(peer) rejected the connection without a certificate; set clientCertificate and clientKey",
                reason: reasons
            )
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION?, SSL_R_UNSUPPORTED_PROTOCOL?, SSL_R_NO_PROTOCOLS_AVAILABLE?:
            return TLSError(
                .protocolVersion,
                "the \(peer) and this side have no TLS version in common; check minimumVersion and maximumVersion",
                reason: reasons
            )
        case SSL_R_WRONG_VERSION_NUMBER?, SSL_R_PACKET_LENGTH_TOO_LONG?, SSL_R_RECORD_LENGTH_MISMATCH?:
            return TLSError(
                .other,
                "the \(peer) did not answer with TLS; check that it expects TLS on this connection (for NATS: tls:// versus handshake_first)",
                reason: reasons
            )
        default:
            return TLSError(.other, "TLS \(operation) failed", reason: reasons)
        }
    }

    private func mapVerifyFailure(_ result: Int, peer: String, reasons: String) -> TLSError {
        let text = OpenSSL.verifyErrorString(result)
        let reason = reasons.isEmpty ? text : "\(text); \(reasons)"
        switch Int32(clamping: result) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            return TLSError(
                .unknownCA,
                "the \(peer)'s certificate is not issued by a trusted CA; add its CA to the trust roots",
                reason: reason
            )
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
            return TLSError(.certificateExpired, "the \(peer)'s certificate is outside its validity period", reason: reason)
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return TLSError(
                .hostnameMismatch,
                "the \(peer)'s certificate is not valid for '\(serverHostname ?? "")'; connect by a name the certificate lists or set serverNameOverride",
                reason: reason
            )
        default:
            return TLSError(.certificateVerificationFailed, "the \(peer)'s certificate failed verification", reason: reason)
        }
    }
}

/// Facts about an established TLS connection.
public struct TLSConnectionInfo: Sendable, Hashable {
    /// The negotiated protocol version, as OpenSSL names it ("TLSv1.3", "TLSv1.2").
    public var version: String
    /// The negotiated cipher suite (OpenSSL name, e.g. "TLS_AES_256_GCM_SHA384").
    public var cipher: String
    /// The peer certificate's subject (RFC 2253), if the peer sent a certificate.
    public var peerSubject: String?
}

private struct SANCollector {
    var dns: [String] = []
    var ips: [String] = []
}

private let sanCallback: @convention(c) (Int32, UnsafePointer<UInt8>?, Int32, UnsafeMutableRawPointer?) -> Void = {
    type, bytes, length, context in
    guard let bytes, let context, length >= 0 else { return }
    let collector = context.assumingMemoryBound(to: SANCollector.self)
    let value = UnsafeBufferPointer(start: bytes, count: Int(length))
    if type == GEN_DNS {
        collector.pointee.dns.append(String(decoding: value, as: UTF8.self))
    } else if type == GEN_IPADD {
        var text = [CChar](repeating: 0, count: 64)
        let family = length == 4 ? AF_INET : (length == 16 ? AF_INET6 : -1)
        guard family != -1, inet_ntop(family, bytes, &text, socklen_t(text.count)) != nil else { return }
        collector.pointee.ips.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
