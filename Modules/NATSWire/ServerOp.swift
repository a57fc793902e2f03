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
/// All its bytes live in one slice of the read buffer (no copy); the accessors slice or
/// decode it on demand, so routing a message costs one reference, whatever it carries.
public struct MessageOp: Sendable {
    /// Subject, reply, header block and payload, at the offsets below (from its reader index).
    private let storage: ByteBuffer
    /// The subscription id it is for.
    public var sid: UInt64
    private let subjectLength: UInt32
    private let replyStart: UInt32
    /// 0 without a reply: a reply subject is never empty.
    private let replyLength: UInt32
    private let headerStart: UInt32
    private let headerLength: UInt32
    private let hasHeaders: Bool
    private let payloadLength: UInt32

    /// Creates a message operation, copying the parts into one buffer.
    public init(subjectBytes: ByteBuffer, sid: UInt64, replyBytes: ByteBuffer?, headerBytes: ByteBuffer?, payload: ByteBuffer) {
        var storage = ByteBuffer()
        storage.reserveCapacity(subjectBytes.readableBytes + (replyBytes?.readableBytes ?? 0)
                                + (headerBytes?.readableBytes ?? 0) + payload.readableBytes)
        storage.writeImmutableBuffer(subjectBytes)
        if let replyBytes { storage.writeImmutableBuffer(replyBytes) }
        if let headerBytes { storage.writeImmutableBuffer(headerBytes) }
        storage.writeImmutableBuffer(payload)
        self.init(
            storage: storage, sid: sid, subjectLength: subjectBytes.readableBytes,
            reply: replyBytes.map { (subjectBytes.readableBytes, $0.readableBytes) },
            headerStart: subjectBytes.readableBytes + (replyBytes?.readableBytes ?? 0),
            headerLength: headerBytes?.readableBytes, payloadLength: payload.readableBytes
        )
    }

    /// A message whose parts lie in `storage` at these offsets (from its reader index); the
    /// payload follows the header block (or starts at `headerStart` without one). The parser
    /// checked every offset against the buffer, and all fit in `UInt32` as a buffer does.
    init(storage: ByteBuffer, sid: UInt64, subjectLength: Int, reply: (start: Int, length: Int)?,
         headerStart: Int, headerLength: Int?, payloadLength: Int) {
        self.storage = storage
        self.sid = sid
        self.subjectLength = UInt32(truncatingIfNeeded: subjectLength)
        self.replyStart = UInt32(truncatingIfNeeded: reply?.start ?? 0)
        self.replyLength = UInt32(truncatingIfNeeded: reply?.length ?? 0)
        self.headerStart = UInt32(truncatingIfNeeded: headerStart)
        self.headerLength = UInt32(truncatingIfNeeded: headerLength ?? 0)
        self.hasHeaders = headerLength != nil
        self.payloadLength = UInt32(truncatingIfNeeded: payloadLength)
    }

    private func slice(_ start: UInt32, _ length: UInt32) -> ByteBuffer {
        storage.getSlice(at: storage.readerIndex + Int(start), length: Int(length)) ?? ByteBuffer()
    }

    private func string(_ start: UInt32, _ length: UInt32) -> String {
        storage.getString(at: storage.readerIndex + Int(start), length: Int(length)) ?? ""
    }

    /// The subject the message was published to, as bytes.
    public var subjectBytes: ByteBuffer { slice(0, subjectLength) }
    /// The reply subject, as bytes, if any.
    public var replyBytes: ByteBuffer? { replyLength == 0 ? nil : slice(replyStart, replyLength) }
    /// Whether it has a reply subject (without slicing or decoding it).
    public var hasReply: Bool { replyLength != 0 }
    /// The raw header block (`NATS/1.0…\r\n\r\n`) of an `HMSG`; `nil` for `MSG`.
    public var headerBytes: ByteBuffer? { hasHeaders ? slice(headerStart, headerLength) : nil }
    /// The payload.
    public var payload: ByteBuffer { slice(headerStart &+ headerLength, payloadLength) }
    /// The payload's size in bytes (without slicing it).
    public var payloadSize: Int { Int(payloadLength) }

    /// The subject.
    public var subject: String { string(0, subjectLength) }
    /// The reply subject, if any.
    public var replyTo: String? { replyLength == 0 ? nil : string(replyStart, replyLength) }
    /// Header and payload bytes together, as the server counts them.
    public var totalSize: Int { Int(headerLength) + Int(payloadLength) }
}

extension MessageOp: Equatable {
    /// The same subject, sid, reply, header block and payload bytes.
    public static func == (a: MessageOp, b: MessageOp) -> Bool {
        a.sid == b.sid && a.subjectBytes == b.subjectBytes && a.replyBytes == b.replyBytes
            && a.headerBytes == b.headerBytes && a.payload == b.payload
    }
}
