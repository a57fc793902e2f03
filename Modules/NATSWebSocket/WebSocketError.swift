/// A WebSocket close status code (RFC 6455 §7.4).
public struct WebSocketCloseCode: Sendable, Hashable, CustomStringConvertible {
    /// The numeric code as sent on the wire.
    public let rawValue: UInt16

    /// Creates a close code from its numeric value.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// 1000: the purpose of the connection was fulfilled.
    public static let normalClosure = WebSocketCloseCode(rawValue: 1000)
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    /// 1002: the peer broke the WebSocket protocol.
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    /// 1003: the endpoint received a data type it cannot accept.
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    /// 1007: a message's payload was invalid (here: undecodable compressed data).
    public static let invalidFramePayloadData = WebSocketCloseCode(rawValue: 1007)
    /// 1008: a message violated the endpoint's policy.
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    /// 1009: a message was too large to process.
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    /// 1010: the client needed an extension the server did not negotiate.
    public static let mandatoryExtension = WebSocketCloseCode(rawValue: 1010)
    /// 1011: the endpoint hit an unexpected condition.
    public static let internalError = WebSocketCloseCode(rawValue: 1011)

    /// Whether this code may appear in a close frame on the wire (RFC 6455 §7.4.1, §7.4.2).
    var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    /// The code and, for registered codes, its meaning, e.g. `1002 (protocol error)`.
    public var description: String {
        let name: String? =
            switch rawValue {
            case 1000: "normal closure"
            case 1001: "going away"
            case 1002: "protocol error"
            case 1003: "unsupported data"
            case 1007: "invalid payload data"
            case 1008: "policy violation"
            case 1009: "message too big"
            case 1010: "mandatory extension"
            case 1011: "internal error"
            default: nil
            }
        return name.map { "\(rawValue) (\($0))" } ?? "\(rawValue)"
    }
}

/// An error of the WebSocket layer: a bad configuration, a failed opening handshake, a
/// protocol violation by the server, or a closed connection.
///
/// Match on ``code``; ``description`` explains what went wrong and what to do.
public struct WebSocketError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case invalidConfiguration
            case handshakeTimedOut
            case closedDuringHandshake
            case responseTooLarge
            case malformedResponse
            case unexpectedStatus
            case invalidUpgrade
            case missingAccept
            case invalidAccept
            case unexpectedExtension
            case unexpectedSubprotocol
            case protocolError
            case messageTooLarge
            case invalidCompressedData
            case compressionFailed
            case closedByServer
            case connectionClosed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A configuration value cannot be used (bad path, header, window bits, limit).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The opening handshake did not finish within the time limit.
        public static let handshakeTimedOut = Code(.handshakeTimedOut)
        /// The connection ended before the handshake response was complete.
        public static let closedDuringHandshake = Code(.closedDuringHandshake)
        /// The handshake response's header block exceeded the size limit.
        public static let responseTooLarge = Code(.responseTooLarge)
        /// The handshake response was not valid HTTP.
        public static let malformedResponse = Code(.malformedResponse)
        /// The server answered with a status other than 101 Switching Protocols.
        public static let unexpectedStatus = Code(.unexpectedStatus)
        /// The `Upgrade` or `Connection` header of the response was missing or wrong.
        public static let invalidUpgrade = Code(.invalidUpgrade)
        /// The response had no `Sec-WebSocket-Accept` header.
        public static let missingAccept = Code(.missingAccept)
        /// The response's `Sec-WebSocket-Accept` did not match our key.
        public static let invalidAccept = Code(.invalidAccept)
        /// The server accepted an extension or parameter we did not offer.
        public static let unexpectedExtension = Code(.unexpectedExtension)
        /// The server selected a subprotocol although we requested none.
        public static let unexpectedSubprotocol = Code(.unexpectedSubprotocol)
        /// The server broke the framing rules of RFC 6455 (close code 1002).
        public static let protocolError = Code(.protocolError)
        /// A message exceeded the configured size limit (close code 1009).
        public static let messageTooLarge = Code(.messageTooLarge)
        /// A compressed message could not be inflated (close code 1007).
        public static let invalidCompressedData = Code(.invalidCompressedData)
        /// zlib failed to set up or to compress (close code 1011).
        public static let compressionFailed = Code(.compressionFailed)
        /// The server closed the connection with an error close code.
        public static let closedByServer = Code(.closedByServer)
        /// The WebSocket connection is closed; nothing more can be written.
        public static let connectionClosed = Code(.connectionClosed)

        /// The kind's name, e.g. `unexpectedStatus`.
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public let code: Code
    /// The close code this side sent (protocol violations) or received (``Code/closedByServer``).
    public let closeCode: WebSocketCloseCode?
    /// The HTTP status line of the handshake response, for handshake failures after it arrived.
    public let statusLine: String?
    private let detail: String

    private init(_ code: Code, _ detail: String, closeCode: WebSocketCloseCode? = nil, statusLine: String? = nil) {
        self.code = code
        self.detail = detail
        self.closeCode = closeCode
        self.statusLine = statusLine
    }

    /// What went wrong and what to do; never contains credentials.
    public var description: String {
        var text = "WebSocketError.\(code): \(detail)"
        if let statusLine { text += " (server status line: \"\(statusLine)\")" }
        if let closeCode { text += " [close code \(closeCode)]" }
        return text
    }

    // MARK: - Constructors used inside the module

    static func invalidConfiguration(_ what: String) -> WebSocketError {
        WebSocketError(.invalidConfiguration, "\(what); fix the WebSocket configuration")
    }

    static func handshakeTimedOut(_ timeout: Duration) -> WebSocketError {
        WebSocketError(
            .handshakeTimedOut,
            "no complete WebSocket handshake response within \(timeout); check that the URL points at a WebSocket listener"
        )
    }

    static let closedDuringHandshake = WebSocketError(
        .closedDuringHandshake,
        "the connection ended before the WebSocket handshake response was complete; check that the server has WebSocket enabled on this port"
    )

    static func responseTooLarge(limit: Int) -> WebSocketError {
        WebSocketError(
            .responseTooLarge,
            "the handshake response header block is larger than \(limit) bytes; this is not a WebSocket server or a proxy is misbehaving"
        )
    }

    static func malformedResponse(_ what: String, statusLine: String? = nil) -> WebSocketError {
        WebSocketError(
            .malformedResponse,
            "the handshake response is not valid HTTP: \(what); check that the URL points at a WebSocket listener",
            statusLine: statusLine
        )
    }

    static func unexpectedStatus(_ statusLine: String) -> WebSocketError {
        WebSocketError(
            .unexpectedStatus,
            "the server did not answer 101 Switching Protocols; check the WebSocket path, credentials for any proxy, and that the server has WebSocket enabled",
            statusLine: statusLine
        )
    }

    static func invalidUpgrade(_ what: String, statusLine: String) -> WebSocketError {
        WebSocketError(.invalidUpgrade, "\(what); the server or a proxy did not upgrade to WebSocket", statusLine: statusLine)
    }

    static func missingAccept(statusLine: String) -> WebSocketError {
        WebSocketError(
            .missingAccept,
            "the response has no Sec-WebSocket-Accept header; the server did not complete the WebSocket handshake",
            statusLine: statusLine
        )
    }

    static func invalidAccept(statusLine: String) -> WebSocketError {
        WebSocketError(
            .invalidAccept,
            "the response's Sec-WebSocket-Accept does not match the key we sent; a proxy or cache may be interfering",
            statusLine: statusLine
        )
    }

    static func unexpectedExtension(_ what: String, statusLine: String) -> WebSocketError {
        WebSocketError(
            .unexpectedExtension,
            "the server's Sec-WebSocket-Extensions is not acceptable: \(what)",
            statusLine: statusLine
        )
    }

    static func unexpectedSubprotocol(statusLine: String) -> WebSocketError {
        WebSocketError(
            .unexpectedSubprotocol,
            "the server selected a Sec-WebSocket-Protocol although none was requested",
            statusLine: statusLine
        )
    }

    static func protocolError(_ what: String) -> WebSocketError {
        WebSocketError(.protocolError, "the server broke the WebSocket protocol: \(what)", closeCode: .protocolError)
    }

    static func messageTooLarge(limit: Int) -> WebSocketError {
        WebSocketError(
            .messageTooLarge,
            "a message from the server exceeds \(limit) bytes; raise maxMessageSize if this is expected",
            closeCode: .messageTooBig
        )
    }

    static let invalidCompressedData = WebSocketError(
        .invalidCompressedData,
        "a compressed message from the server could not be inflated",
        closeCode: .invalidFramePayloadData
    )

    static func compressionFailed(_ what: String) -> WebSocketError {
        WebSocketError(.compressionFailed, "zlib failed: \(what)", closeCode: .internalError)
    }

    static func closedByServer(_ code: WebSocketCloseCode, reason: String) -> WebSocketError {
        let shownReason = reason.isEmpty ? "" : " with reason \"\(reason)\""
        return WebSocketError(.closedByServer, "the server closed the WebSocket\(shownReason)", closeCode: code)
    }

    static let connectionClosed = WebSocketError(
        .connectionClosed,
        "the WebSocket connection is closed; open a new connection"
    )
}

extension String {
    /// Printable ASCII only, at most `limit` characters, for showing peer text in errors.
    init(sanitizingPeerText bytes: some Collection<UInt8>, limit: Int = 200) {
        var text = ""
        for byte in bytes.prefix(limit) {
            text.unicodeScalars.append(byte >= 0x20 && byte < 0x7F ? Unicode.Scalar(byte) : "?")
        }
        if bytes.count > limit { text += "…" }
        self = text
    }
}
