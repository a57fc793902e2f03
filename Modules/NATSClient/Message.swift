public import NATSWire
public import NIOCore

/// A message received on a subscription or as a reply.
///
/// Its subject, reply and payload stay in the bytes the client read (one shared slice, no
/// copy) and are sliced or decoded when accessed.
public struct NATSMessage: Sendable {
    private let op: MessageOp
    /// The headers, if any were sent and could be parsed.
    public let headers: NATSHeaders?

    /// The subject it was published to.
    public var subject: String { op.subject }
    /// Where to send a reply, if the publisher asked for one.
    public var replyTo: String? { op.replyTo }
    /// Whether the publisher asked for a reply (a request), without decoding the subject.
    public var hasReply: Bool { op.hasReply }
    /// The payload bytes.
    public var payload: ByteBuffer { op.payload }
    /// The raw header block when it could not be parsed (`headers` is `nil` then).
    public var rawHeaders: ByteBuffer? { headers == nil ? op.headerBytes : nil }

    /// Creates a message. With `headers`, `rawHeaders` is ignored.
    public init(subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer, rawHeaders: ByteBuffer? = nil) {
        self.op = MessageOp(
            subjectBytes: ByteBuffer(string: subject), sid: 0, replyBytes: replyTo.map { ByteBuffer(string: $0) },
            headerBytes: headers == nil ? rawHeaders : nil, payload: payload
        )
        self.headers = headers
    }

    init(_ op: MessageOp) {
        self.op = op
        self.headers = op.headerBytes.flatMap { try? NATSHeaders.parse($0) }
    }

    /// The payload's size, without slicing it.
    var payloadSize: Int { op.payloadSize }

    /// The reply subject's bytes, without decoding them.
    var replyBytes: ByteBuffer? { op.replyBytes }

    /// The status code of the header line (e.g. 503), if any.
    public var status: Int? { headers?.status }

    /// The payload decoded as UTF-8.
    public var string: String { String(buffer: payload) }

    /// The payload as an array of bytes.
    public var bytes: [UInt8] { Array(payload.readableBytesView) }
}
