extension ConnectOptions {
    /// When and how to use TLS at the NATS level (`wss://` has its own TLS).
    public struct TLSOptions: Sendable {
        /// Require TLS even if the server does not ask for it; fail if it offers none.
        public var required: Bool = false
        /// Run the TLS handshake before reading INFO (the server needs `handshake_first`).
        public var handshakeFirst: Bool = false

        /// Default: plaintext unless the URL is `tls://` or the server requires TLS.
        public init() {}

        /// Whether the options require TLS.
        public var isRequired: Bool { required || handshakeFirst }
    }
}
