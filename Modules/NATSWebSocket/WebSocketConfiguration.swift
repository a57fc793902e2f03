/// How a ``WebSocketStream`` opens and runs its connection.
public struct WebSocketConfiguration: Sendable {
    /// The request target: path plus optional query, e.g. `/nats?token=...`. Must start
    /// with `/` and be printable ASCII (percent-encode anything else). Empty means `/`.
    public var path: String
    /// The `Origin` header, if the server checks it.
    public var origin: String?
    /// Additional request headers in order, e.g. `("Authorization", "Bearer ...")` for a
    /// proxy. Handshake headers (Host, Upgrade, Connection, Sec-WebSocket-*) are not allowed.
    public var extraHeaders: [(String, String)]
    /// Offer permessage-deflate (RFC 7692); used only if the server accepts.
    public var compression: Bool
    /// The permessage-deflate offer and limits, used when ``compression`` is on.
    public var deflate: PerMessageDeflate.Configuration
    /// Largest message (after reassembly and inflation) accepted from the server; larger
    /// ones close the connection with code 1009.
    public var maxMessageSize: Int
    /// Outgoing messages larger than this are split into frames of at most this size.
    public var maxFrameSize: Int
    /// How long ``WebSocketStream/close()`` waits for the server's close frame.
    public var closeTimeout: Duration

    /// Creates a configuration.
    public init(
        path: String = "/",
        origin: String? = nil,
        extraHeaders: [(String, String)] = [],
        compression: Bool = false,
        deflate: PerMessageDeflate.Configuration = .init(),
        maxMessageSize: Int = 64 * 1024 * 1024,
        maxFrameSize: Int = 1024 * 1024,
        closeTimeout: Duration = .seconds(2)
    ) {
        self.path = path
        self.origin = origin
        self.extraHeaders = extraHeaders
        self.compression = compression
        self.deflate = deflate
        self.maxMessageSize = maxMessageSize
        self.maxFrameSize = maxFrameSize
        self.closeTimeout = closeTimeout
    }

    private static let reservedHeaders: Set<String> = [
        "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
        "sec-websocket-extensions", "sec-websocket-protocol", "content-length", "transfer-encoding",
    ]

    /// Rejects values that would break or inject into the request.
    func validate() throws(WebSocketError) {
        let target = path.isEmpty ? "/" : path
        guard target.hasPrefix("/"), target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidConfiguration("the path must start with / and contain only printable ASCII without spaces")
        }
        if let origin, !Self.isValidHeaderValue(origin) {
            throw .invalidConfiguration("the origin contains control characters")
        }
        for (name, value) in extraHeaders {
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
                throw .invalidConfiguration("the extra header name \"\(String(sanitizingPeerText: Array(name.utf8), limit: 64))\" is not an HTTP token")
            }
            guard !Self.reservedHeaders.contains(name.lowercased()) else {
                throw .invalidConfiguration("the extra header \(name) is set by the WebSocket handshake itself")
            }
            // The value is not shown: it may be a credential.
            guard Self.isValidHeaderValue(value) else {
                throw .invalidConfiguration("the value of the extra header \(name) contains control characters")
            }
        }
        guard maxMessageSize > 0, maxFrameSize > 0 else {
            throw .invalidConfiguration("maxMessageSize and maxFrameSize must be positive")
        }
        if compression { try deflate.validate() }
    }

    private static func isValidHeaderValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
