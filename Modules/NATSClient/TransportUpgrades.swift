import NATSTransport

/// TLS and WebSocket layers over a dialed stream. (Filled in by NATSTLS and NATSWebSocket.)
enum TransportUpgrades {
    static func tls(over stream: any ByteStream, url: ServerURL, options: ConnectOptions) async throws(NATSError) -> any ByteStream {
        throw NATSError(.config, "TLS is not available in this build")
    }

    static func webSocket(over stream: any ByteStream, url: ServerURL, options: ConnectOptions) async throws(NATSError) -> any ByteStream {
        throw NATSError(.config, "WebSocket is not available in this build")
    }
}
