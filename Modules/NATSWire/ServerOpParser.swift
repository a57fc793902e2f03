public import NIOCore

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

    private struct PendingMessage: Sendable {
        var subject: ByteBuffer
        var sid: UInt64
        var reply: ByteBuffer?
        var headerSize: Int?
        var totalSize: Int
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

    /// Bytes received and not yet consumed by ``next()``.
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
                return try finishMessage(pending)
            }
            return try parseControlLine()
        } catch {
            failure = error
            throw error
        }
    }

    // MARK: - Control lines

    private enum Op { case msg, hmsg, ping, pong, ok, err, info }

    /// Up to five argument ranges, as offsets from the reader index; no heap allocation.
    private struct Args {
        var starts: (Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0)
        var ends: (Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0)
        var count = 0
        var tooMany = false

        mutating func add(_ start: Int, _ end: Int) {
            switch count {
            case 0: starts.0 = start; ends.0 = end
            case 1: starts.1 = start; ends.1 = end
            case 2: starts.2 = start; ends.2 = end
            case 3: starts.3 = start; ends.3 = end
            case 4: starts.4 = start; ends.4 = end
            default: tooMany = true; return
            }
            count += 1
        }

        func range(_ i: Int) -> (start: Int, end: Int) {
            switch i {
            case 0: return (starts.0, ends.0)
            case 1: return (starts.1, ends.1)
            case 2: return (starts.2, ends.2)
            case 3: return (starts.3, ends.3)
            default: return (starts.4, ends.4)
            }
        }
    }

    private struct ControlLine {
        var op: Op
        /// Bytes of the line including its LF.
        var consumed: Int
        /// For MSG/HMSG: the argument ranges.
        var args: Args
        /// For INFO and -ERR: the rest of the line after the operation.
        var restStart: Int
        var restEnd: Int
    }

    private mutating func parseControlLine() throws(ProtocolError) -> ServerOp? {
        // Clamped so that `maxLine + 2` cannot overflow.
        let maxLine = min(max(limits.maxControlLine, 0), Int.max - 2)
        let scanned: Result<ControlLine?, ProtocolError> = buffer.withUnsafeReadableBytes { raw in
            Self.scanControlLine(raw, maxLine: maxLine)
        }
        guard let line = try scanned.get() else { return nil }
        let base = buffer.readerIndex
        switch line.op {
        case .ping:
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .ping
        case .pong:
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .pong
        case .ok:
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .ok
        case .err:
            let text = buffer.getString(at: base + line.restStart, length: line.restEnd - line.restStart) ?? ""
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .err(ServerError(text: Self.unquote(text)))
        case .info:
            let info: ServerInfo = try buffer.withUnsafeReadableBytes { raw throws(ProtocolError) in
                try ServerInfo.decode(json: UnsafeRawBufferPointer(rebasing: raw[line.restStart..<line.restEnd]))
            }
            buffer.moveReaderIndex(forwardBy: line.consumed)
            return .info(info)
        case .msg, .hmsg:
            let pending = try messageHeader(line, base: base)
            buffer.moveReaderIndex(forwardBy: line.consumed)
            self.pending = pending
            return try finishMessage(pending)
        }
    }

    private func messageHeader(_ line: ControlLine, base: Int) throws(ProtocolError) -> PendingMessage {
        let args = line.args
        let isH = line.op == .hmsg
        let name = isH ? "HMSG" : "MSG"
        let sizes = isH ? 2 : 1
        guard !args.tooMany, args.count == 2 + sizes || args.count == 3 + sizes else {
            throw ProtocolError(.invalidArguments, detail: name)
        }
        func slice(_ i: Int) -> ByteBuffer {
            let r = args.range(i)
            return buffer.getSlice(at: base + r.start, length: r.end - r.start) ?? ByteBuffer()
        }
        func number(_ i: Int) throws(ProtocolError) -> UInt64 {
            let r = args.range(i)
            let parsed: UInt64? = buffer.withUnsafeReadableBytes { raw in
                Self.parseDecimal(UnsafeRawBufferPointer(rebasing: raw[r.start..<r.end]))
            }
            guard let parsed else { throw ProtocolError(.invalidNumber, detail: name) }
            return parsed
        }
        let hasReply = args.count == 3 + sizes
        let sid = try number(1)
        let total = try number(args.count - 1)
        var headerSize: Int? = nil
        if isH {
            let h = try number(args.count - 2)
            guard h <= total else { throw ProtocolError(.headerSizeExceedsTotal, detail: name) }
            headerSize = Int(h)
        }
        guard total <= UInt64(max(limits.maxMessageSize, 0)) else {
            throw ProtocolError(.payloadTooLarge, detail: "\(name) of \(total) bytes")
        }
        return PendingMessage(
            subject: slice(0), sid: sid, reply: hasReply ? slice(2) : nil,
            headerSize: headerSize, totalSize: Int(total)
        )
    }

    private mutating func finishMessage(_ message: PendingMessage) throws(ProtocolError) -> ServerOp? {
        // `totalSize + 2` could overflow when the limit is `Int.max`.
        guard buffer.readableBytes - 2 >= message.totalSize else { return nil }
        let start = buffer.readerIndex
        let cr = buffer.getInteger(at: start + message.totalSize, as: UInt8.self)
        let lf = buffer.getInteger(at: start + message.totalSize + 1, as: UInt8.self)
        guard cr == UInt8(ascii: "\r"), lf == UInt8(ascii: "\n") else {
            throw ProtocolError(.missingPayloadTerminator)
        }
        var headers: ByteBuffer? = nil
        let headerSize = message.headerSize ?? 0
        if message.headerSize != nil {
            headers = buffer.getSlice(at: start, length: headerSize)
        }
        let payload = buffer.getSlice(at: start + headerSize, length: message.totalSize - headerSize) ?? ByteBuffer()
        buffer.moveReaderIndex(forwardBy: message.totalSize + 2)
        pending = nil
        return .msg(MessageOp(subjectBytes: message.subject, sid: message.sid, replyBytes: message.reply, headerBytes: headers, payload: payload))
    }

    // MARK: - Scanning (pure functions over raw bytes)

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    private static func scanControlLine(_ raw: UnsafeRawBufferPointer, maxLine: Int) -> Result<ControlLine?, ProtocolError> {
        let searchLimit = min(raw.count, maxLine + 2)
        var lf = -1
        var i = 0
        while i < searchLimit {
            if raw[i] == 0x0A { lf = i; break }
            i += 1
        }
        if lf < 0 {
            if raw.count > maxLine + 1 { return .failure(ProtocolError(.controlLineTooLong)) }
            return .success(nil)
        }
        var end = lf
        if end > 0 && raw[end - 1] == 0x0D { end -= 1 }
        var p = 0
        while p < end && isSpace(raw[p]) { p += 1 }
        let opStart = p
        while p < end && !isSpace(raw[p]) { p += 1 }
        let opLength = p - opStart
        func opIs(_ name: StaticString) -> Bool {
            guard opLength == name.utf8CodeUnitCount else { return false }
            let n = name.utf8Start
            for k in 0..<opLength where raw[opStart + k] != n[k] {
                // Only letters fold: `| 0x20` would also turn VT into `+` and CR into `-`.
                let lower = raw[opStart + k] | 0x20
                guard lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z"), lower == n[k] | 0x20 else { return false }
            }
            return true
        }
        let op: Op
        if opIs("MSG") { op = .msg }
        else if opIs("HMSG") { op = .hmsg }
        else if opIs("PING") { op = .ping }
        else if opIs("PONG") { op = .pong }
        else if opIs("+OK") { op = .ok }
        else if opIs("-ERR") { op = .err }
        else if opIs("INFO") { op = .info }
        else {
            var name = ""
            for k in 0..<min(opLength, 16) {
                let b = raw[opStart + k]
                name.unicodeScalars.append(Unicode.Scalar((b >= 0x20 && b < 0x7F) ? b : UInt8(ascii: "?")))
            }
            return .failure(ProtocolError(.unknownOperation, detail: name))
        }
        var line = ControlLine(op: op, consumed: lf + 1, args: Args(), restStart: p, restEnd: end)
        switch op {
        case .msg, .hmsg:
            while p < end {
                while p < end && isSpace(raw[p]) { p += 1 }
                if p == end { break }
                let s = p
                while p < end && !isSpace(raw[p]) { p += 1 }
                line.args.add(s, p)
            }
        case .info, .err:
            while line.restStart < end && isSpace(raw[line.restStart]) { line.restStart += 1 }
            while line.restEnd > line.restStart && isSpace(raw[line.restEnd - 1]) { line.restEnd -= 1 }
        case .ping, .pong, .ok:
            break
        }
        return .success(line)
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
