public import NIOCore

/// Message headers: an optional status (`NATS/1.0 503`) and name/value pairs, several
/// values per name, in order.
///
/// Names are compared exactly (case-sensitive), as the server does.
///
/// ```swift
/// var headers = NATSHeaders()
/// headers["Nats-Msg-Id"] = "42"
/// headers.append("a", for: "X-Tag")
/// headers.append("b", for: "X-Tag")
/// ```
public struct NATSHeaders: Sendable, Equatable, CustomStringConvertible, ExpressibleByDictionaryLiteral {
    /// One header line.
    public struct Entry: Sendable, Equatable {
        /// The header name.
        public var name: String
        /// The header value.
        public var value: String
    }

    /// The status code of the `NATS/1.0` line (e.g. 503 no responders, 408 timeout), if any.
    public var status: Int?
    /// The status description following the code, if any.
    public var statusDescription: String?
    /// All entries, in order.
    public private(set) var entries: [Entry] = []

    /// Empty headers.
    public init() {}

    /// Headers from literal pairs.
    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { append(value, for: name) }
    }

    /// Well-known status codes.
    public enum Status {
        /// Heartbeat or flow control.
        public static let idleHeartbeat = 100
        /// No responders for a request.
        public static let noResponders = 503
        /// Request timeout.
        public static let requestTimeout = 408
        /// Not found.
        public static let notFound = 404
        /// Conflict.
        public static let conflict = 409
    }

    /// True when there is no status and no entry.
    public var isEmpty: Bool { status == nil && entries.isEmpty }

    /// The first value for `name`; setting replaces all values for it (`nil` removes them).
    public subscript(name: String) -> String? {
        get { entries.first { $0.name == name }?.value }
        set {
            if let newValue {
                if let i = entries.firstIndex(where: { $0.name == name }) {
                    entries[i].value = newValue
                    var j = entries.count - 1
                    while j > i {
                        if entries[j].name == name { entries.remove(at: j) }
                        j -= 1
                    }
                } else {
                    entries.append(Entry(name: name, value: newValue))
                }
            } else {
                remove(name)
            }
        }
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] {
        entries.lazy.filter { $0.name == name }.map(\.value)
    }

    /// Adds a value for `name` after the existing ones.
    public mutating func append(_ value: String, for name: String) {
        entries.append(Entry(name: name, value: value))
    }

    /// Removes every value for `name`.
    public mutating func remove(_ name: String) {
        entries.removeAll { $0.name == name }
    }

    // MARK: - Wire format

    private static let version = "NATS/1.0"

    /// The exact number of bytes ``write(to:)`` writes; the max_payload check counts it.
    public var wireLength: Int {
        var n = Self.version.utf8.count + 2 + 2
        if let status {
            n += 1 + Self.decimalLength(status)
            if let statusDescription, !statusDescription.isEmpty { n += 1 + statusDescription.utf8.count }
        }
        for e in entries { n += e.name.utf8.count + 2 + e.value.utf8.count + 2 }
        return n
    }

    /// Checks that the headers can be sent: names are printable ASCII without `:`, values and
    /// the description have no CR or LF, and the status has three digits.
    public func validate() throws(HeaderError) {
        if let status, !(100...999).contains(status) { throw HeaderError(.invalidStatus) }
        if let statusDescription, statusDescription.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            throw HeaderError(.invalidValue)
        }
        for e in entries {
            guard Self.isValidName(e.name.utf8) else { throw HeaderError(.invalidName, name: e.name) }
            if e.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
                throw HeaderError(.invalidValue, name: e.name)
            }
        }
    }

    /// Writes the header block (`NATS/1.0…\r\n…\r\n\r\n`). Call ``validate()`` first.
    public func write(to buffer: inout ByteBuffer) {
        let length = wireLength
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { out in
            out.baseAddress.map { write(into: $0) } ?? 0
        }
    }

    /// Writes the header block at `out`, which has room for ``wireLength`` bytes; returns the
    /// number written (``wireLength``).
    func write(into out: UnsafeMutableRawPointer) -> Int {
        var i = RawWriter.copy("NATS/1.0", to: out)
        if let status {
            out.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
            i += 1
            i += RawWriter.decimal(UInt64(max(0, status)), to: out + i)
            if let statusDescription, !statusDescription.isEmpty {
                out.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
                i += 1
                i += RawWriter.copy(statusDescription, to: out + i)
            }
        }
        i += RawWriter.crlf(out + i)
        for e in entries {
            i += RawWriter.copy(e.name, to: out + i)
            i += RawWriter.copy(": ", to: out + i)
            i += RawWriter.copy(e.value, to: out + i)
            i += RawWriter.crlf(out + i)
        }
        i += RawWriter.crlf(out + i)
        return i
    }

    /// Parses a header block as received in `HMSG`.
    public static func parse(_ bytes: ByteBuffer) throws(HeaderError) -> NATSHeaders {
        try bytes.withUnsafeReadableBytes { raw throws(HeaderError) in try parse(raw) }
    }

    /// Parses a header block from raw bytes.
    public static func parse(_ raw: UnsafeRawBufferPointer) throws(HeaderError) -> NATSHeaders {
        var headers = NATSHeaders()
        var lines = LineIterator(raw: raw)
        guard let first = try lines.next() else { throw HeaderError(.missingVersion) }
        let versionBytes = Array(version.utf8)
        guard first.count >= versionBytes.count, first.prefix(versionBytes.count).elementsEqual(versionBytes) else {
            throw HeaderError(.missingVersion)
        }
        var rest = first.dropFirst(versionBytes.count)
        if !rest.isEmpty {
            guard rest.first == 0x20 || rest.first == 0x09 else { throw HeaderError(.missingVersion) }
            rest = rest.drop { $0 == 0x20 || $0 == 0x09 }
            let digits = rest.prefix { $0 >= 0x30 && $0 <= 0x39 }
            if !digits.isEmpty {
                guard digits.count == 3 else { throw HeaderError(.invalidStatus) }
                headers.status = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                let description = rest.dropFirst(digits.count).drop { $0 == 0x20 || $0 == 0x09 }
                if !description.isEmpty { headers.statusDescription = String(decoding: description, as: UTF8.self) }
            } else if !rest.isEmpty {
                throw HeaderError(.invalidStatus)
            }
        }
        var sawTerminator = false
        while let line = try lines.next() {
            if line.isEmpty { sawTerminator = true; continue }
            if sawTerminator { throw HeaderError(.malformedLine) }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw HeaderError(.missingColon) }
            let name = line[line.startIndex..<colon]
            guard isValidName(name) else { throw HeaderError(.invalidName) }
            let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            var trimmedEnd = value.endIndex
            while trimmedEnd > value.startIndex && (value[trimmedEnd - 1] == 0x20 || value[trimmedEnd - 1] == 0x09) { trimmedEnd -= 1 }
            headers.entries.append(Entry(
                name: String(decoding: name, as: UTF8.self),
                value: String(decoding: value[value.startIndex..<trimmedEnd], as: UTF8.self)
            ))
        }
        return headers
    }

    private static func isValidName<C: Collection<UInt8>>(_ name: C) -> Bool {
        guard !name.isEmpty else { return false }
        return name.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
    }

    static func decimalLength(_ value: Int) -> Int {
        var v = max(0, value), n = 1
        while v >= 10 { v /= 10; n += 1 }
        return n
    }

    /// Splits on CRLF; a bare CR or LF is an error.
    private struct LineIterator {
        let raw: UnsafeRawBufferPointer
        var position = 0

        mutating func next() throws(HeaderError) -> Slice<UnsafeRawBufferPointer>? {
            guard position < raw.count else { return nil }
            var i = position
            while i < raw.count {
                let b = raw[i]
                if b == 0x0D {
                    guard i + 1 < raw.count, raw[i + 1] == 0x0A else { throw HeaderError(.malformedLine) }
                    let line = raw[position..<i]
                    position = i + 2
                    return line
                }
                if b == 0x0A { throw HeaderError(.malformedLine) }
                i += 1
            }
            throw HeaderError(.malformedLine)
        }
    }

    public var description: String {
        var s = "NATSHeaders("
        if let status { s += "status: \(status)" + (statusDescription.map { " \($0)" } ?? "") + (entries.isEmpty ? "" : ", ") }
        s += entries.map { "\($0.name): \($0.value)" }.joined(separator: ", ")
        return s + ")"
    }
}

/// Headers that cannot be parsed or sent.
public struct HeaderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public struct Reason: Sendable, Hashable, CustomStringConvertible {
        fileprivate let name: String
        /// The block does not start with `NATS/1.0`.
        public static let missingVersion = Reason(name: "header block does not start with NATS/1.0")
        /// The status is not a three-digit code.
        public static let invalidStatus = Reason(name: "invalid status code")
        /// A line has no colon.
        public static let missingColon = Reason(name: "header line without ':'")
        /// A name is empty or has bytes other than printable ASCII without ':'.
        public static let invalidName = Reason(name: "invalid header name")
        /// A value contains CR or LF.
        public static let invalidValue = Reason(name: "header value contains CR or LF")
        /// A bare CR or LF, a missing final CRLF, or text after the blank line.
        public static let malformedLine = Reason(name: "malformed header line")
        public var description: String { name }
    }

    /// What is wrong.
    public let reason: Reason
    /// The header name concerned, when known.
    public let name: String?

    init(_ reason: Reason, name: String? = nil) {
        self.reason = reason
        self.name = name
    }

    public var description: String {
        name.map { "\(reason) ('\($0)')" } ?? reason.description
    }
}
