public import NATSTLS

extension ConnectOptions {
    /// When and how to use TLS at the NATS level (`wss://` uses the same configuration for
    /// its own TLS).
    public struct TLSOptions: Sendable {
        /// Require TLS even if the server does not ask for it; fail if it offers none.
        public var required: Bool = false
        /// Run the TLS handshake before reading INFO (the server needs `handshake_first`).
        public var handshakeFirst: Bool = false
        /// Trust roots, client certificate, versions, ciphers, verification and hooks.
        /// Certificate and key files are read again on every connect.
        public var configuration: TLSConfiguration = TLSConfiguration()

        /// Default: plaintext unless the URL is `tls://` or the server requires TLS.
        public init() {}

        /// Whether the options require TLS.
        public var isRequired: Bool { required || handshakeFirst }
    }

    /// A copy that trusts the CA certificates in the PEM file at `path`, in addition to the
    /// system roots; implies ``requireTLS(_:)``.
    public func addRootCertificates(_ path: String) -> ConnectOptions {
        with {
            $0.tls.configuration.additionalTrustRoots.append(.file(path))
            $0.tls.required = true
        }
    }

    /// A copy that presents a client certificate (mutual TLS); implies ``requireTLS(_:)``.
    public func addClientCertificate(_ certificatePath: String, key keyPath: String, password: String? = nil) -> ConnectOptions {
        with {
            $0.tls.configuration.clientCertificate = .file(certificatePath)
            $0.tls.configuration.clientKey = .file(keyPath, password: password)
            $0.tls.required = true
        }
    }

    /// A copy with a custom TLS configuration (the spec's "custom TLS configuration"); it
    /// replaces roots and certificates set before.
    public func tlsConfiguration(_ configuration: TLSConfiguration) -> ConnectOptions {
        with { $0.tls.configuration = configuration }
    }
}
