public import NIOCore

/// A subject or queue group that cannot be sent safely.
public struct SubjectValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public struct Reason: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String
        /// The subject or queue group is empty.
        public static let empty = Reason(name: "is empty")
        /// It contains a space, tab, CR or LF, which would break the protocol's framing.
        public static let whitespace = Reason(name: "contains whitespace (space, tab, CR or LF)")
        /// It starts or ends with a dot.
        public static let leadingOrTrailingDot = Reason(name: "starts or ends with '.'")
        /// It has an empty token (`a..b`).
        public static let emptyToken = Reason(name: "has an empty token ('..')")
        public var description: String { name }
    }

    /// What was validated: "subject" or "queue group".
    public let what: String
    /// The rejected value.
    public let value: String
    /// Why.
    public let reason: Reason

    public var description: String { "invalid \(what) '\(value)': it \(reason)" }
}

/// Client-side subject checks that keep the protocol framing intact.
public enum SubjectValidation {
    @inline(__always)
    private static func isWhitespace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A
    }

    /// Whether `bytes` is non-empty with no byte below 0x21 (no space and no control byte):
    /// one pass without a branch per byte. A subject that passes needs no other check to be
    /// published; one that does not may still be valid (see ``validatePublish(_:)-(String)``).
    @inline(__always)
    public static func hasOnlyVisibleBytes(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        // The top bit of `b - 0x21` with that of `b` clear: b < 0x21.
        var low: UInt8 = 0
        for b in bytes { low |= (b &- 0x21) & ~b }
        return low & 0x80 == 0
    }

    /// Whether `bytes` is non-empty and free of whitespace, over contiguous bytes (iterating
    /// `String.UTF8View` cost a tenth of a small publish): ``hasOnlyVisibleBytes(_:)`` first,
    /// and only when it finds a byte below 0x21 a second pass looks for whitespace.
    @inline(__always)
    private static func isPlainToken(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty else { return false }
        if hasOnlyVisibleBytes(bytes) { return true }
        for b in bytes where isWhitespace(b) { return false }
        return true
    }

    /// A publish subject: non-empty, with no space, tab, CR or LF.
    public static func validatePublish(_ subject: String) throws(SubjectValidationError) {
        if subject.utf8.withContiguousStorageIfAvailable(isPlainToken) == true { return }
        var empty = true
        for b in subject.utf8 {
            empty = false
            if isWhitespace(b) { throw SubjectValidationError(what: "subject", value: subject, reason: .whitespace) }
        }
        if empty { throw SubjectValidationError(what: "subject", value: subject, reason: .empty) }
    }

    /// A publish subject given as bytes (such as a received message's reply subject).
    public static func validatePublish(_ subject: ByteBuffer) throws(SubjectValidationError) {
        let plain = subject.withUnsafeReadableBytes { isPlainToken($0.bindMemory(to: UInt8.self)) }
        if !plain { try validatePublish(String(decoding: subject.readableBytesView, as: UTF8.self)) }
    }

    /// A subscribe subject: as for publish, and no leading or trailing dot and no empty token.
    public static func validateSubscribe(_ subject: String) throws(SubjectValidationError) {
        var previousWasDot = true
        var any = false
        for b in subject.utf8 {
            if isWhitespace(b) { throw SubjectValidationError(what: "subject", value: subject, reason: .whitespace) }
            if b == UInt8(ascii: ".") {
                if !any { throw SubjectValidationError(what: "subject", value: subject, reason: .leadingOrTrailingDot) }
                if previousWasDot { throw SubjectValidationError(what: "subject", value: subject, reason: .emptyToken) }
                previousWasDot = true
            } else {
                previousWasDot = false
            }
            any = true
        }
        if !any { throw SubjectValidationError(what: "subject", value: subject, reason: .empty) }
        if previousWasDot { throw SubjectValidationError(what: "subject", value: subject, reason: .leadingOrTrailingDot) }
    }

    /// A queue group name: non-empty, with no whitespace.
    public static func validateQueueGroup(_ queue: String) throws(SubjectValidationError) {
        var empty = true
        for b in queue.utf8 {
            empty = false
            if isWhitespace(b) { throw SubjectValidationError(what: "queue group", value: queue, reason: .whitespace) }
        }
        if empty { throw SubjectValidationError(what: "queue group", value: queue, reason: .empty) }
    }
}
