public import NATSWire
public import NIOCore

/// A message received on a subscription or as a reply.
public struct NATSMessage: Sendable {
    /// The subject it was published to.
    public let subject: String
    /// Where to send a reply, if the publisher asked for one.
    public let replyTo: String?
    /// The headers, if any were sent and could be parsed.
    public let headers: NATSHeaders?
    /// The payload bytes.
    public let payload: ByteBuffer
    /// The raw header block when it could not be parsed; `headers` is `nil` then.
    public let rawHeaders: ByteBuffer?

    /// Creates a message.
    public init(subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer, rawHeaders: ByteBuffer? = nil) {
        self.subject = subject
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
        self.rawHeaders = rawHeaders
    }

    init(_ op: MessageOp) {
        subject = op.subject
        replyTo = op.replyTo
        payload = op.payload
        if let block = op.headerBytes {
            if let parsed = try? NATSHeaders.parse(block) {
                headers = parsed
                rawHeaders = nil
            } else {
                headers = nil
                rawHeaders = block
            }
        } else {
            headers = nil
            rawHeaders = nil
        }
    }

    /// The status code of the header line (e.g. 503), if any.
    public var status: Int? { headers?.status }

    /// The payload decoded as UTF-8.
    public var string: String { String(buffer: payload) }

    /// The payload as an array of bytes.
    public var bytes: [UInt8] { Array(payload.readableBytesView) }
}
