public import NIOCore

/// An operation received from the server.
public enum ServerOp: Sendable, Equatable {
    /// `INFO`: server information, at connect and again whenever it changes.
    indirect case info(ServerInfo)
    /// `MSG` or `HMSG`: a message for one of our subscriptions.
    case msg(MessageOp)
    /// `PING`: answer with `PONG`.
    case ping
    /// `PONG`: the answer to our `PING`.
    case pong
    /// `+OK`: only sent in verbose mode.
    case ok
    /// `-ERR`: a server error, classified.
    case err(ServerError)
}

/// A `MSG` or `HMSG` as it arrived: subject, sid, reply, header block and payload.
///
/// The byte fields are slices of the read buffer, not copies. The `String` accessors
/// decode on demand.
public struct MessageOp: Sendable, Equatable {
    /// The subject the message was published to, as bytes.
    public var subjectBytes: ByteBuffer
    /// The subscription id it is for.
    public var sid: UInt64
    /// The reply subject, as bytes, if any.
    public var replyBytes: ByteBuffer?
    /// The raw header block (`NATS/1.0…\r\n\r\n`) of an `HMSG`; `nil` for `MSG`.
    public var headerBytes: ByteBuffer?
    /// The payload.
    public var payload: ByteBuffer

    /// Creates a message operation.
    public init(subjectBytes: ByteBuffer, sid: UInt64, replyBytes: ByteBuffer?, headerBytes: ByteBuffer?, payload: ByteBuffer) {
        self.subjectBytes = subjectBytes
        self.sid = sid
        self.replyBytes = replyBytes
        self.headerBytes = headerBytes
        self.payload = payload
    }

    /// The subject.
    public var subject: String { String(buffer: subjectBytes) }
    /// The reply subject, if any.
    public var replyTo: String? { replyBytes.map { String(buffer: $0) } }
    /// Header and payload bytes together, as the server counts them.
    public var totalSize: Int { (headerBytes?.readableBytes ?? 0) + payload.readableBytes }
}
