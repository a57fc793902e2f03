/// The server sent bytes that are not valid NATS protocol.
///
/// The connection cannot continue after a protocol error: the byte stream is out of sync.
/// `description` names the problem; it never includes message payloads.
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of violation.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String
        /// A control line is longer than the limit.
        public static let controlLineTooLong = Kind(name: "control line too long")
        /// A size or sid is not a non-negative decimal number, or overflows.
        public static let invalidNumber = Kind(name: "invalid number")
        /// `HMSG`'s header size is larger than its total size.
        public static let headerSizeExceedsTotal = Kind(name: "header size exceeds total size")
        /// A payload is not followed by CRLF.
        public static let missingPayloadTerminator = Kind(name: "payload not followed by CRLF")
        /// An operation this client does not know.
        public static let unknownOperation = Kind(name: "unknown operation")
        /// An operation with the wrong number of arguments.
        public static let invalidArguments = Kind(name: "invalid arguments")
        /// An `INFO` whose JSON could not be decoded.
        public static let invalidInfo = Kind(name: "invalid INFO")
        /// A message larger than the parser's limit.
        public static let payloadTooLarge = Kind(name: "payload too large")
        public var description: String { name }
    }

    /// What kind of violation.
    public let kind: Kind
    /// Non-secret detail, e.g. the operation name.
    public let detail: String

    /// Creates an error.
    public init(_ kind: Kind, detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    public var description: String {
        detail.isEmpty ? "NATS protocol error: \(kind)" : "NATS protocol error: \(kind) (\(detail))"
    }
}
