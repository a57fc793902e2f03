import NATSWebSocket

extension ConnectOptions {
    /// A copy with permessage-deflate (RFC 7692) offered on `ws://` and `wss://` connections.
    public func webSocketCompression(_ enabled: Bool = true) -> ConnectOptions {
        with { $0.webSocket.compression = enabled }
    }

    /// A copy that sends an extra header with the WebSocket upgrade request (e.g. for a proxy).
    public func webSocketHeader(_ name: String, _ value: String) -> ConnectOptions {
        with { $0.webSocket.extraHeaders.append((name, value)) }
    }
}
