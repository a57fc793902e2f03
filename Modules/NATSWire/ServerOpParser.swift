public import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An incremental parser of the server's operations.
///
/// Feed it the bytes read from the connection with ``append(_:)``, then call ``next()``
/// until it returns `nil` (it needs more bytes). The result does not depend on how the
/// bytes were chunked. Operation names are case-insensitive, and spaces and tabs both
/// separate arguments. After an error the parser stays failed: the stream is out of sync.
///
/// ```swift
/// var parser = ServerOpParser()
/// parser.append(chunk)
/// while let op = try parser.next() { handle(op) }
/// ```
public struct ServerOpParser: Sendable {
    /// Limits that protect the client from a hostile or broken server.
    public struct Limits: Sendable, Equatable {
        /// The longest control line (operation and arguments), in bytes. Negative counts as 0.
        public var maxControlLine: Int = 4096
        /// The largest message (headers and payload), in bytes. Negative counts as 0.
        public var maxMessageSize: Int = 64 * 1024 * 1024
        /// Default limits.
        public init() {}
    }

    /// A `MSG`/`HMSG` line whose body has not fully arrived. Its line stays in the buffer, so
    /// the message ends up in one contiguous slice; offsets count from the line's start.
    private struct PendingMessage: Sendable {
        var sid: UInt64
        var subjectStart: Int
        var subjectEnd: Int
        var replyStart: Int
        /// Equal to `replyStart` without a reply.
        var replyEnd: Int
        var headerSize: Int?
        var totalSize: Int
        /// Where the body starts: the length of the line with its LF.
        var bodyStart: Int
    }

    /// The limits in force.
    public let limits: Limits
    private var buffer: ByteBuffer
    private var pending: PendingMessage?
    private var failure: ProtocolError?

    /// Creates a parser.
    public init(limits: Limits = Limits()) {
        self.limits = limits
        self.buffer = ByteBuffer()
    }

    /// Bytes received and not yet returned by ``next()`` (a message's line counts until the
    /// whole message is returned).
    public var bufferedBytes: Int { buffer.readableBytes }

    /// Adds bytes read from the connection.
    public mutating func append(_ chunk: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = chunk
        } else {
            // Drop what was parsed first, so a message that straddles reads never makes the
            // append copy everything before it again.
            buffer.discardReadBytes()
            var chunk = chunk
            buffer.writeBuffer(&chunk)
        }
    }

    /// The next complete operation, or `nil` when more bytes are needed.
    public mutating func next() throws(ProtocolError) -> ServerOp? {
        if let failure { throw failure }
        do {
            if let pending {
                return try finish(pending)
            }
            return try parseControlLine()
        } catch {
            failure = error
            throw error
        }
    }

    // MARK: - Control lines

    private enum Op { case msg, hmsg, ping, pong, ok, err, info }

    /// What one scan of the buffer found: offsets from the reader index, no heap allocation.
    private enum Scan {
        case needMore
        case simple(ServerOp, consumed: Int)
        /// INFO or -ERR with the range of the text after the operation name.
        case text(Op, start: Int, end: Int, consumed: Int)
        /// A message line; `terminated` when its body and the CRLF after it are there too.
        case message(PendingMessage, terminated: Bool)
    }

    private mutating func parseControlLine() throws(ProtocolError) -> ServerOp? {
        // Clamped so that `maxLine + 2` cannot overflow.
        let maxLine = min(max(limits.maxControlLine, 0), Int.max - 2)
        let maxMessage = max(limits.maxMessageSize, 0)
        let scan: Scan = try buffer.withUnsafeReadableBytes { raw throws(ProtocolError) in
            try Self.scan(raw, maxLine: maxLine, maxMessage: maxMessage)
        }
        switch scan {
        case .needMore:
            return nil
        case .simple(let op, let consumed):
            buffer.moveReaderIndex(forwardBy: consumed)
            return op
        case .text(let op, let start, let end, let consumed):
            let base = buffer.readerIndex
            let result: ServerOp
            if op == .info {
                let info: ServerInfo = try buffer.withUnsafeReadableBytes { raw throws(ProtocolError) in
                    try ServerInfo.decode(json: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                }
                result = .info(info)
            } else {
                let text = buffer.getString(at: base + start, length: end - start) ?? ""
                result = .err(ServerError(text: Self.unquote(text)))
            }
            buffer.moveReaderIndex(forwardBy: consumed)
            return result
        case .message(let message, let terminated):
            if terminated { return take(message) }
            return try finish(message)
        }
    }

    /// The message once its body is complete (checking the CRLF after it), else `nil` with the
    /// line kept pending.
    private mutating func finish(_ m: PendingMessage) throws(ProtocolError) -> ServerOp? {
        // `totalSize + 2` could overflow when the limit is `Int.max`.
        let available = buffer.readableBytes - m.bodyStart - 2
        guard available >= m.totalSize else {
            pending = m
            return nil
        }
        let end = m.bodyStart + m.totalSize
        let terminated = buffer.withUnsafeReadableBytes { raw in
            raw[end] == UInt8(ascii: "\r") && raw[end + 1] == UInt8(ascii: "\n")
        }
        guard terminated else { throw ProtocolError(.missingPayloadTerminator) }
        return take(m)
    }

    /// Returns the complete, terminated message `m` and consumes it.
    private mutating func take(_ m: PendingMessage) -> ServerOp {
        let end = m.bodyStart + m.totalSize
        let storage = buffer.getSlice(at: buffer.readerIndex + m.subjectStart, length: end - m.subjectStart) ?? ByteBuffer()
        buffer.moveReaderIndex(forwardBy: end + 2)
        pending = nil
        let headerSize = m.headerSize ?? 0
        return .msg(MessageOp(
            storage: storage, sid: m.sid, subjectLength: m.subjectEnd - m.subjectStart,
            reply: m.replyEnd > m.replyStart ? (m.replyStart - m.subjectStart, m.replyEnd - m.replyStart) : nil,
            headerStart: m.bodyStart - m.subjectStart, headerLength: m.headerSize,
            payloadLength: m.totalSize - headerSize
        ))
    }

    // MARK: - Scanning (pure functions over raw bytes)

    @inline(__always)
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    /// Whether `raw[start..<start+length]` is `name`, letters compared case-insensitively.
    @inline(__always)
    private static func matches(_ raw: UnsafeRawBufferPointer, _ start: Int, _ length: Int, _ name: StaticString) -> Bool {
        guard length == name.utf8CodeUnitCount else { return false }
        let n = name.utf8Start
        for k in 0..<length {
            let b = raw[start + k]
            if b == n[k] { continue }
            // Only letters fold: `| 0x20` would also turn VT into `+` and CR into `-`.
            let lower = b | 0x20
            guard lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z"), lower == n[k] | 0x20 else { return false }
        }
        return true
    }

    private static func scan(_ raw: UnsafeRawBufferPointer, maxLine: Int, maxMessage: Int) throws(ProtocolError) -> Scan {
        let count = raw.count
        let searchLimit = min(count, maxLine + 2)
        guard searchLimit > 0, let base = raw.baseAddress else {
            if count > maxLine + 1 { throw ProtocolError(.controlLineTooLong) }
            return .needMore
        }
        guard let found = memchr(base, 0x0A, searchLimit) else {
            if count > maxLine + 1 { throw ProtocolError(.controlLineTooLong) }
            return .needMore
        }
        let lf = base.distance(to: UnsafeRawPointer(found))
        var end = lf
        if end > 0 && raw[end - 1] == 0x0D { end -= 1 }
        var p = 0
        while p < end && isSpace(raw[p]) { p += 1 }
        let opStart = p
        while p < end && !isSpace(raw[p]) { p += 1 }
        let opLength = p - opStart
        let consumed = lf + 1

        // The first byte picks the one name that can match.
        let first = opLength == 0 ? 0 : raw[opStart] | 0x20
        let op: Op?
        switch first {
        case UInt8(ascii: "m"): op = matches(raw, opStart, opLength, "MSG") ? .msg : nil
        case UInt8(ascii: "h"): op = matches(raw, opStart, opLength, "HMSG") ? .hmsg : nil
        case UInt8(ascii: "p"):
            op = matches(raw, opStart, opLength, "PING") ? .ping : matches(raw, opStart, opLength, "PONG") ? .pong : nil
        case UInt8(ascii: "+"): op = matches(raw, opStart, opLength, "+OK") ? .ok : nil
        case UInt8(ascii: "-"): op = matches(raw, opStart, opLength, "-ERR") ? .err : nil
        case UInt8(ascii: "i"): op = matches(raw, opStart, opLength, "INFO") ? .info : nil
        default: op = nil
        }
        switch op {
        case nil:
            var name = ""
            for k in 0..<min(opLength, 16) {
                let b = raw[opStart + k]
                name.unicodeScalars.append(Unicode.Scalar((b >= 0x20 && b < 0x7F) ? b : UInt8(ascii: "?")))
            }
            throw ProtocolError(.unknownOperation, detail: name)
        case .ping?: return .simple(.ping, consumed: consumed)
        case .pong?: return .simple(.pong, consumed: consumed)
        case .ok?: return .simple(.ok, consumed: consumed)
        case .info?, .err?:
            var start = p
            var stop = end
            while start < stop && isSpace(raw[start]) { start += 1 }
            while stop > start && isSpace(raw[stop - 1]) { stop -= 1 }
            return .text(op!, start: start, end: stop, consumed: consumed)
        case .msg?, .hmsg?:
            let m = try messageLine(raw, from: p, end: end, consumed: consumed, isH: op == .hmsg, maxMessage: maxMessage)
            // Most messages arrive whole: check the terminator in this same pass.
            guard count - consumed - 2 >= m.totalSize else { return .message(m, terminated: false) }
            let stop = consumed + m.totalSize
            guard raw[stop] == UInt8(ascii: "\r"), raw[stop + 1] == UInt8(ascii: "\n") else {
                throw ProtocolError(.missingPayloadTerminator)
            }
            return .message(m, terminated: true)
        }
    }

    /// The arguments of `MSG <subject> <sid> [reply] <size>` or
    /// `HMSG <subject> <sid> [reply] <header size> <total size>`, from `p` to `end`.
    private static func messageLine(_ raw: UnsafeRawBufferPointer, from p: Int, end: Int, consumed: Int,
                                    isH: Bool, maxMessage: Int) throws(ProtocolError) -> PendingMessage {
        // Up to five argument ranges; a sixth makes the line invalid.
        var starts = (0, 0, 0, 0, 0)
        var ends = (0, 0, 0, 0, 0)
        var n = 0
        var p = p
        while p < end {
            while p < end && isSpace(raw[p]) { p += 1 }
            if p == end { break }
            let s = p
            while p < end && !isSpace(raw[p]) { p += 1 }
            switch n {
            case 0: starts.0 = s; ends.0 = p
            case 1: starts.1 = s; ends.1 = p
            case 2: starts.2 = s; ends.2 = p
            case 3: starts.3 = s; ends.3 = p
            case 4: starts.4 = s; ends.4 = p
            default: break
            }
            n += 1
        }
        let name = isH ? "HMSG" : "MSG"
        let sizes = isH ? 2 : 1
        guard n == 2 + sizes || n == 3 + sizes else { throw ProtocolError(.invalidArguments, detail: name) }
        func range(_ i: Int) -> (Int, Int) {
            switch i {
            case 0: return (starts.0, ends.0)
            case 1: return (starts.1, ends.1)
            case 2: return (starts.2, ends.2)
            case 3: return (starts.3, ends.3)
            default: return (starts.4, ends.4)
            }
        }
        func number(_ i: Int) throws(ProtocolError) -> Int {
            let (s, e) = range(i)
            guard let value = parseDecimal(UnsafeRawBufferPointer(rebasing: raw[s..<e])) else {
                throw ProtocolError(.invalidNumber, detail: name)
            }
            return Int(value)
        }
        let sid = try number(1)
        let total = try number(n - 1)
        var headerSize: Int? = nil
        if isH {
            let h = try number(n - 2)
            guard h <= total else { throw ProtocolError(.headerSizeExceedsTotal, detail: name) }
            headerSize = h
        }
        guard total <= maxMessage else { throw ProtocolError(.payloadTooLarge, detail: "\(name) of \(total) bytes") }
        let hasReply = n == 3 + sizes
        let reply = hasReply ? range(2) : (0, 0)
        return PendingMessage(
            sid: UInt64(sid), subjectStart: starts.0, subjectEnd: ends.0,
            replyStart: reply.0, replyEnd: reply.1,
            headerSize: headerSize, totalSize: total, bodyStart: consumed
        )
    }

    /// A non-negative decimal number with at most 19 digits' worth of value; `nil` otherwise.
    static func parseDecimal(_ raw: UnsafeRawBufferPointer) -> UInt64? {
        guard !raw.isEmpty else { return nil }
        var value: UInt64 = 0
        for b in raw {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(b - 0x30))
            guard !o1, !o2 else { return nil }
            value = a
        }
        guard value <= UInt64(Int.max) else { return nil }
        return value
    }

    private static func unquote(_ text: String) -> String {
        var t = Substring(text)
        if t.count >= 2, t.first == "'", t.last == "'" { t = t.dropFirst().dropLast() }
        return String(t)
    }
}
