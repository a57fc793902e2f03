internal import CNATSOpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small helpers around OpenSSL calls: the error queue, files, certificates and keys.
/// Every function here is called with OpenSSL's per-thread error queue in a known state:
/// callers clear it first (`ERR_clear_error`) and drain it after a failure.
enum OpenSSL {
    /// Drains the per-thread error queue into one line of reason strings, oldest first.
    static func drainErrors() -> String {
        var parts: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !parts.contains(text) { parts.append(text) }
        }
        return parts.joined(separator: "; ")
    }

    /// The reason code (library SSL only) of the oldest error in the queue, without removing it.
    static func peekSSLReason() -> Int32? {
        let code = ERR_peek_error()
        guard code != 0, CNATSOpenSSL_ERR_GET_LIB(code) == ERR_LIB_SSL else { return nil }
        return CNATSOpenSSL_ERR_GET_REASON(code)
    }

    /// Human-readable text for an X509_V_ERR_* code.
    static func verifyErrorString(_ code: Int) -> String {
        guard let text = X509_verify_cert_error_string(code) else { return "verify error \(code)" }
        return String(cString: text)
    }

    /// Reads a whole file. Fails with `kind`, naming the path.
    static func readFile(_ path: String, kind: TLSError.Kind, what: String) throws(TLSError) -> [UInt8] {
        let maximumSize = 16 * 1024 * 1024
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let reason = String(cString: strerror(errno))
            throw TLSError(kind, "cannot open \(what) file '\(path)': \(reason); check the path and its permissions")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                throw TLSError(kind, "cannot read \(what) file '\(path)': \(reason)")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maximumSize {
                throw TLSError(kind, "\(what) file '\(path)' is larger than 16 MiB; is it the right file?")
            }
        }
        wipe(&chunk)
        return bytes
    }

    /// Overwrites secret bytes before they are released.
    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            _ = memset(base, 0, raw.count)
        }
    }

    /// True if the data looks like PEM text.
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN".utf8)
        guard bytes.count >= marker.count else { return false }
        var index = 0
        while index + marker.count <= bytes.count {
            if bytes[index] == marker[0], Array(bytes[index..<index + marker.count]) == marker { return true }
            index += 1
            if index > 4096 { return false }  // headers of that size mean it is not PEM
        }
        return false
    }

    /// A memory BIO holding a copy of `bytes`, valid while `body` runs. It is a "secure"
    /// memory BIO, which clears its buffer when freed (it may hold key material).
    static func withMemoryBIO<T>(_ bytes: [UInt8], _ body: (OpaquePointer) throws(TLSError) -> T) throws(TLSError) -> T {
        guard let bio = BIO_new(BIO_s_secmem()) else {
            throw TLSError(.other, "out of memory creating a BIO", reason: drainErrors())
        }
        defer { BIO_free(bio) }
        let written = bytes.withUnsafeBytes { raw in
            raw.isEmpty ? 0 : BIO_write(bio, raw.baseAddress, Int32(clamping: raw.count))
        }
        guard written == Int32(clamping: bytes.count) else {
            throw TLSError(.other, "out of memory filling a BIO", reason: drainErrors())
        }
        return try body(bio)
    }

    /// Parses every certificate in PEM (bundles allowed) or one DER certificate.
    /// The caller owns the returned X509 pointers (X509_free).
    static func parseCertificates(_ bytes: [UInt8], origin: String) throws(TLSError) -> [OpaquePointer] {
        ERR_clear_error()
        var certificates: [OpaquePointer] = []
        if looksLikePEM(bytes) {
            try withMemoryBIO(bytes) { bio throws(TLSError) in
                while let cert = PEM_read_bio_X509(bio, nil, nil, nil) {
                    certificates.append(cert)
                }
            }
            // The loop always ends with a "no start line" error; only a parse error matters.
            let last = ERR_peek_last_error()
            if CNATSOpenSSL_ERR_GET_REASON(last) == PEM_R_NO_START_LINE { ERR_clear_error() }
            let errors = drainErrors()
            if !errors.isEmpty {
                certificates.forEach { X509_free($0) }
                throw TLSError(.invalidCertificate, "cannot parse certificate PEM in \(origin)", reason: errors)
            }
        } else {
            let cert: OpaquePointer? = bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return nil }
                var pointer: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
                return d2i_X509(nil, &pointer, raw.count)
            }
            if let cert { certificates.append(cert) }
        }
        if certificates.isEmpty {
            throw TLSError(
                .invalidCertificate,
                "no certificate found in \(origin); expected PEM ('-----BEGIN CERTIFICATE-----') or DER",
                reason: drainErrors()
            )
        }
        return certificates
    }

    /// Loads the certificates of `source`. The caller owns the returned X509 pointers.
    static func loadCertificates(_ source: TLSCertificateSource) throws(TLSError) -> [OpaquePointer] {
        switch source.storage {
        case .file(let path):
            let bytes = try readFile(path, kind: .invalidCertificate, what: "certificate")
            return try parseCertificates(bytes, origin: "file '\(path)'")
        case .pem(let text):
            return try parseCertificates(Array(text.utf8), origin: "in-memory PEM")
        case .der(let bytes):
            return try parseCertificates(bytes, origin: "in-memory DER")
        }
    }

    /// A loaded private key, possibly with the certificate chain a PKCS#12 bundle carried.
    struct LoadedKey {
        var key: OpaquePointer
        var certificates: [OpaquePointer]

        func free() {
            EVP_PKEY_free(key)
            certificates.forEach { X509_free($0) }
        }
    }

    /// Loads the private key of `source`. The caller owns the returned pointers (`free()`).
    static func loadKey(_ source: TLSKeySource) throws(TLSError) -> LoadedKey {
        ERR_clear_error()
        switch source.storage {
        case .file(let path, let password):
            var bytes = try readFile(path, kind: .invalidKey, what: "private key")
            defer { wipe(&bytes) }
            return LoadedKey(key: try parseKey(bytes, password: password, origin: "file '\(path)'"), certificates: [])
        case .pem(let text, let password):
            var bytes = Array(text.utf8)
            defer { wipe(&bytes) }
            return LoadedKey(key: try parseKey(bytes, password: password, origin: "in-memory PEM key"), certificates: [])
        case .der(let bytes):
            return LoadedKey(key: try parseKey(bytes, password: nil, origin: "in-memory DER key"), certificates: [])
        case .pkcs12File(let path, let password):
            var bytes = try readFile(path, kind: .invalidKey, what: "PKCS#12")
            defer { wipe(&bytes) }
            return try parsePKCS12(bytes, password: password, origin: "PKCS#12 file '\(path)'")
        case .pkcs12(let bytes, let password):
            return try parsePKCS12(bytes, password: password, origin: "in-memory PKCS#12")
        }
    }

    /// Supplies the key password to OpenSSL; `userdata` is a NUL-terminated password or nil.
    /// Returning 0 without a password makes OpenSSL fail instead of prompting on a terminal.
    private static let passwordCallback: @convention(c) (
        UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?
    ) -> Int32 = { buffer, size, _, userdata in
        guard let buffer, let userdata, size > 0 else { return 0 }
        let password = userdata.assumingMemoryBound(to: CChar.self)
        let length = min(Int(strlen(password)), Int(size))
        memcpy(buffer, password, length)
        return Int32(length)
    }

    private static func parseKey(_ bytes: [UInt8], password: String?, origin: String) throws(TLSError) -> OpaquePointer {
        var key: OpaquePointer?
        if looksLikePEM(bytes) {
            // PEM_read_bio_PrivateKey handles PKCS#8 (plain and encrypted), PKCS#1 RSA and SEC1 EC.
            var passwordBytes: [CChar] = password.map { Array($0.utf8CString) } ?? []
            defer { passwordBytes.withUnsafeMutableBytes { raw in _ = raw.baseAddress.map { memset($0, 0, raw.count) } } }
            key = try withMemoryBIO(bytes) { bio throws(TLSError) in
                passwordBytes.withUnsafeMutableBufferPointer { pw in
                    PEM_read_bio_PrivateKey(bio, nil, passwordCallback, pw.isEmpty ? nil : UnsafeMutableRawPointer(pw.baseAddress))
                }
            }
        } else {
            key = bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return nil }
                var pointer: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
                return d2i_AutoPrivateKey(nil, &pointer, raw.count)
            }
        }
        guard let key else {
            let hint = password == nil
                ? "expected an unencrypted PEM (PKCS#8, PKCS#1 RSA or SEC1 EC) or DER key, or pass its password"
                : "check the password and the key format"
            throw TLSError(.invalidKey, "cannot read the private key in \(origin); \(hint)", reason: drainErrors())
        }
        ERR_clear_error()
        return key
    }

    private static func parsePKCS12(_ bytes: [UInt8], password: String, origin: String) throws(TLSError) -> LoadedKey {
        let p12: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            var pointer: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
            return d2i_PKCS12(nil, &pointer, raw.count)
        }
        guard let p12 else {
            throw TLSError(.invalidKey, "\(origin) is not a PKCS#12 (DER) bundle", reason: drainErrors())
        }
        defer { PKCS12_free(p12) }
        var key: OpaquePointer?
        var cert: OpaquePointer?
        var chain: OpaquePointer?
        var passwordBytes = Array(password.utf8CString)
        defer { passwordBytes.withUnsafeMutableBytes { raw in _ = raw.baseAddress.map { memset($0, 0, raw.count) } } }
        let ok = passwordBytes.withUnsafeBufferPointer { pw in
            PKCS12_parse(p12, pw.baseAddress, &key, &cert, &chain)
        }
        guard ok == 1, let key else {
            throw TLSError(
                .invalidKey,
                "cannot open \(origin); check the password (legacy RC2/3DES bundles need OpenSSL's legacy provider)",
                reason: drainErrors()
            )
        }
        var certificates: [OpaquePointer] = []
        if let cert { certificates.append(cert) }
        if let chain {
            for index in 0..<CNATSOpenSSL_sk_X509_num(chain) {
                if let extra = CNATSOpenSSL_sk_X509_value(chain, index), X509_up_ref(extra) == 1 {
                    certificates.append(extra)
                }
            }
            CNATSOpenSSL_sk_X509_pop_free(chain)
        }
        ERR_clear_error()
        return LoadedKey(key: key, certificates: certificates)
    }

    /// The subject or issuer name in RFC 2253 form ("CN=localhost,O=Example").
    static func nameString(_ name: OpaquePointer?) -> String? {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, CNATSOpenSSL_XN_FLAG_RFC2253()) >= 0 else { return nil }
        var data: UnsafeMutablePointer<CChar>?
        let length = CNATSOpenSSL_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// The DER encoding of a certificate.
    static func derBytes(_ cert: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(cert, nil)
        guard length > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_X509(cert, &pointer)
        }
        return bytes
    }
}
