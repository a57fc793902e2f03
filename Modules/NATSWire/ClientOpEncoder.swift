public import NIOCore

/// Writes client operations straight into a caller's buffer: no `String` building and no
/// allocation beyond the buffer's own growth.
///
/// Subjects and queue groups are written as given; validate them first
/// (``SubjectValidation``). Headers must have passed ``NATSHeaders/validate()``.
public enum ClientOpEncoder {
    /// `CONNECT {json}\r\n`.
    public static func writeConnect(_ info: ConnectInfo, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("CONNECT {")
        var json = JSONObjectWriter()
        json.bool("verbose", info.verbose, &buffer)
        json.bool("pedantic", info.pedantic, &buffer)
        json.bool("tls_required", info.tlsRequired, &buffer)
        if let name = info.name { json.string("name", name, &buffer) }
        json.string("lang", info.lang, &buffer)
        json.string("version", info.version, &buffer)
        json.int("protocol", info.protocol, &buffer)
        json.bool("echo", info.echo, &buffer)
        json.bool("headers", info.headers, &buffer)
        json.bool("no_responders", info.noResponders, &buffer)
        if let v = info.user { json.string("user", v, &buffer) }
        if let v = info.pass { json.string("pass", v, &buffer) }
        if let v = info.authToken { json.string("auth_token", v, &buffer) }
        if let v = info.jwt { json.string("jwt", v, &buffer) }
        if let v = info.nkey { json.string("nkey", v, &buffer) }
        if let v = info.sig { json.string("sig", v, &buffer) }
        buffer.writeStaticString("}\r\n")
    }

    // MARK: - PUB and HPUB

    /// `PUB <subject> [reply] <size>\r\n<payload>\r\n`.
    public static func writePub(subject: String, reply: String?, payload: ByteBuffer, to buffer: inout ByteBuffer) {
        pub(subject: subject, reply: reply, headers: nil, payload: payload, to: &buffer)
    }

    /// `PUB` with a payload from any contiguous bytes.
    public static func writePub(subject: String, reply: String?, payload: some Collection<UInt8>, to buffer: inout ByteBuffer) {
        pub(subject: subject, reply: reply, headers: nil, payload: payload, to: &buffer)
    }

    /// `HPUB <subject> [reply] <header size> <total size>\r\n<headers><payload>\r\n`.
    public static func writeHPub(subject: String, reply: String?, headers: NATSHeaders, payload: ByteBuffer, to buffer: inout ByteBuffer) {
        pub(subject: subject, reply: reply, headers: headers, payload: payload, to: &buffer)
    }

    /// `HPUB` with a payload from any contiguous bytes.
    public static func writeHPub(subject: String, reply: String?, headers: NATSHeaders, payload: some Collection<UInt8>, to buffer: inout ByteBuffer) {
        pub(subject: subject, reply: reply, headers: headers, payload: payload, to: &buffer)
    }

    /// `PUB` into an ``OutboundBuffer``.
    public static func writePub(subject: String, reply: String?, payload: ByteBuffer, to buffer: inout OutboundBuffer) {
        pub(subject: subject, reply: reply, headers: nil, payload: payload, to: &buffer)
    }

    /// `PUB` with a payload from any contiguous bytes into an ``OutboundBuffer``.
    public static func writePub(subject: String, reply: String?, payload: some Collection<UInt8>, to buffer: inout OutboundBuffer) {
        pub(subject: subject, reply: reply, headers: nil, payload: payload, to: &buffer)
    }

    /// `PUB` into an ``OutboundBuffer`` if `subject` and `reply` have only visible bytes
    /// (``SubjectValidation/hasOnlyVisibleBytes(_:)``), checked while they are copied; else
    /// writes nothing and returns `false`. Validate such a subject with
    /// ``SubjectValidation/validatePublish(_:)-(String)`` (it may still be valid), then use
    /// ``writePub(subject:reply:payload:to:)-(_,_,ByteBuffer,_)``.
    public static func writeVisiblePub(subject: String, reply: String?, payload: ByteBuffer, to buffer: inout OutboundBuffer) -> Bool {
        payload.withUnsafeReadableBytes { body in
            pubLine(subject: subject, reply: reply, headers: nil, body: body, visibleOnly: true, to: &buffer)
        }
    }

    /// ``writeVisiblePub(subject:reply:payload:to:)-(_,_,ByteBuffer,_)`` with a payload from
    /// any bytes.
    public static func writeVisiblePub(subject: String, reply: String?, payload: some Collection<UInt8>, to buffer: inout OutboundBuffer) -> Bool {
        let wrote: Bool? = payload.withContiguousStorageIfAvailable { bytes in
            pubLine(subject: subject, reply: reply, headers: nil, body: UnsafeRawBufferPointer(bytes), visibleOnly: true, to: &buffer)
        }
        if let wrote { return wrote }
        return Array(payload).withUnsafeBytes { pubLine(subject: subject, reply: reply, headers: nil, body: $0, visibleOnly: true, to: &buffer) }
    }

    /// `HPUB` into an ``OutboundBuffer``.
    public static func writeHPub(subject: String, reply: String?, headers: NATSHeaders, payload: ByteBuffer, to buffer: inout OutboundBuffer) {
        pub(subject: subject, reply: reply, headers: headers, payload: payload, to: &buffer)
    }

    /// `HPUB` with a payload from any contiguous bytes into an ``OutboundBuffer``.
    public static func writeHPub(subject: String, reply: String?, headers: NATSHeaders, payload: some Collection<UInt8>, to buffer: inout OutboundBuffer) {
        pub(subject: subject, reply: reply, headers: headers, payload: payload, to: &buffer)
    }

    @inline(__always)
    private static func pub(subject: String, reply: String?, headers: NATSHeaders?, payload: ByteBuffer, to buffer: inout some RawByteSink) {
        payload.withUnsafeReadableBytes { body in
            _ = pubLine(subject: subject, reply: reply, headers: headers, body: body, to: &buffer)
        }
    }

    @inline(__always)
    private static func pub(subject: String, reply: String?, headers: NATSHeaders?, payload: some Collection<UInt8>, to buffer: inout some RawByteSink) {
        let done: Void? = payload.withContiguousStorageIfAvailable { bytes in
            _ = pubLine(subject: subject, reply: reply, headers: headers, body: UnsafeRawBufferPointer(bytes), to: &buffer)
        }
        if done == nil {
            // Not contiguous (rare): gather it first.
            Array(payload).withUnsafeBytes { _ = pubLine(subject: subject, reply: reply, headers: headers, body: $0, to: &buffer) }
        }
    }

    /// `PUB` or, with `headers`, `HPUB` from raw parts: the general form behind the typed
    /// overloads, for subjects that are already bytes (a received message's reply subject).
    public static func writePub(
        subject: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer?, headers: NATSHeaders?,
        payload: UnsafeRawBufferPointer, to buffer: inout OutboundBuffer
    ) {
        pubBytes(subject.bindMemory(to: UInt8.self), reply?.bindMemory(to: UInt8.self), headers, payload, to: &buffer)
    }

    /// A request's `PUB`/`HPUB`: the reply subject is `replyPrefix` followed by `replyID` in
    /// decimal, written without building it as a string.
    public static func writeRequest(
        subject: String, replyPrefix: String, replyID: UInt64, headers: NATSHeaders?,
        payload: UnsafeRawBufferPointer, to buffer: inout OutboundBuffer
    ) {
        var subject = subject
        var replyPrefix = replyPrefix
        subject.withUTF8 { t in
            replyPrefix.withUTF8 { p in
                withUnsafeTemporaryAllocation(byteCount: p.count + 20, alignment: 1) { reply in
                    guard let base = reply.baseAddress else { return }
                    let length = RawWriter.copy(p, to: base) + RawWriter.decimal(replyID, to: base + p.count)
                    let bytes = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: length)
                    pubBytes(t, bytes, headers, payload, to: &buffer)
                }
            }
        }
    }

    /// With `visibleOnly`, writes nothing and returns `false` unless subject and reply have
    /// only visible bytes (``SubjectValidation/hasOnlyVisibleBytes(_:)``).
    @inline(__always)
    private static func pubLine(
        subject: String, reply: String?, headers: NATSHeaders?, body: UnsafeRawBufferPointer,
        visibleOnly: Bool = false, to buffer: inout some RawByteSink
    ) -> Bool {
        var subject = subject
        return subject.withUTF8 { t in
            if visibleOnly && !SubjectValidation.hasOnlyVisibleBytes(t) { return false }
            if var reply {
                return reply.withUTF8 { r in
                    if visibleOnly && !SubjectValidation.hasOnlyVisibleBytes(r) { return false }
                    pubBytes(t, r, headers, body, to: &buffer)
                    return true
                }
            }
            pubBytes(t, nil, headers, body, to: &buffer)
            return true
        }
    }

    /// The whole operation (line, header block, payload, CRLF) with one raw write: each
    /// separate ByteBuffer call pays its own bounds and exclusivity checks, which dominated
    /// the cost of a small PUB.
    @inline(__always)
    private static func pubBytes(
        _ subject: UnsafeBufferPointer<UInt8>, _ reply: UnsafeBufferPointer<UInt8>?, _ headers: NATSHeaders?,
        _ body: UnsafeRawBufferPointer, to buffer: inout some RawByteSink
    ) {
        let headerLength = headers?.wireLength ?? 0
        let first = UInt64(headers == nil ? body.count : headerLength)
        let second: UInt64? = headers == nil ? nil : UInt64(headerLength + body.count)
        lineBytes(headers == nil ? "PUB " : "HPUB ", subject, reply, first, second, extra: headerLength + body.count + 2, to: &buffer) { out in
            var i = headers?.write(into: out) ?? 0
            if let b = body.baseAddress, body.count > 0 {
                (out + i).copyMemory(from: b, byteCount: body.count)
                i += body.count
            }
            return i + RawWriter.crlf(out + i)
        }
    }

    /// Writes `<op><token> [second token] <first>[ <second>]\r\n`, then what `then` writes
    /// (at most `extra` bytes), in one raw write.
    @inline(__always)
    private static func line(
        _ op: StaticString, _ token: String, _ secondToken: String?, _ first: UInt64, _ second: UInt64?,
        extra: Int = 0, to buffer: inout some RawByteSink, then: (UnsafeMutableRawPointer) -> Int = { _ in 0 }
    ) {
        var token = token
        token.withUTF8 { t in
            if var secondToken {
                secondToken.withUTF8 { lineBytes(op, t, $0, first, second, extra: extra, to: &buffer, then: then) }
            } else {
                lineBytes(op, t, nil, first, second, extra: extra, to: &buffer, then: then)
            }
        }
    }

    @inline(__always)
    private static func lineBytes(
        _ op: StaticString, _ t: UnsafeBufferPointer<UInt8>, _ s: UnsafeBufferPointer<UInt8>?, _ first: UInt64, _ second: UInt64?,
        extra: Int, to buffer: inout some RawByteSink, then: (UnsafeMutableRawPointer) -> Int
    ) {
        let max = op.utf8CodeUnitCount + t.count + (s.map { $0.count + 1 } ?? 0) + 2 * 21 + 3 + extra
        buffer.writeRaw(maxBytes: max) { out in
            var i = RawWriter.copy(op, to: out)
            i += RawWriter.copy(t, to: out + i)
            out.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
            i += 1
            if let s {
                i += RawWriter.copy(s, to: out + i)
                out.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
                i += 1
            }
            i += RawWriter.decimal(first, to: out + i)
            if let second {
                out.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
                i += 1
                i += RawWriter.decimal(second, to: out + i)
            }
            i += RawWriter.crlf(out + i)
            return i + then(out + i)
        }
    }

    // MARK: - SUB, UNSUB, PING, PONG

    /// `SUB <subject> [queue] <sid>\r\n`.
    public static func writeSub(subject: String, queue: String?, sid: UInt64, to buffer: inout ByteBuffer) {
        line("SUB ", subject, queue, sid, nil, to: &buffer)
    }

    /// `SUB` into an ``OutboundBuffer``.
    public static func writeSub(subject: String, queue: String?, sid: UInt64, to buffer: inout OutboundBuffer) {
        line("SUB ", subject, queue, sid, nil, to: &buffer)
    }

    /// `UNSUB <sid> [max]\r\n`.
    public static func writeUnsub(sid: UInt64, max: UInt64?, to buffer: inout ByteBuffer) {
        unsub(sid: sid, max: max, to: &buffer)
    }

    /// `UNSUB` into an ``OutboundBuffer``.
    public static func writeUnsub(sid: UInt64, max: UInt64?, to buffer: inout OutboundBuffer) {
        unsub(sid: sid, max: max, to: &buffer)
    }

    private static func unsub(sid: UInt64, max: UInt64?, to buffer: inout some RawByteSink) {
        buffer.writeRaw(maxBytes: 6 + 21 + 21 + 2) { out in
            var i = RawWriter.copy("UNSUB ", to: out)
            i += RawWriter.decimal(sid, to: out + i)
            if let max {
                out.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
                i += 1
                i += RawWriter.decimal(max, to: out + i)
            }
            return i + RawWriter.crlf(out + i)
        }
    }

    /// `PING\r\n`.
    public static func writePing(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("PING\r\n")
    }

    /// `PING` into an ``OutboundBuffer``.
    public static func writePing(to buffer: inout OutboundBuffer) {
        buffer.writeRaw(maxBytes: 6) { RawWriter.copy("PING\r\n", to: $0) }
    }

    /// `PONG\r\n`.
    public static func writePong(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("PONG\r\n")
    }

    /// `PONG` into an ``OutboundBuffer``.
    public static func writePong(to buffer: inout OutboundBuffer) {
        buffer.writeRaw(maxBytes: 6) { RawWriter.copy("PONG\r\n", to: $0) }
    }

    /// Writes `value` in decimal ASCII.
    public static func writeDecimal(_ value: UInt64, to buffer: inout ByteBuffer) {
        buffer.writeRaw(maxBytes: 20) { RawWriter.decimal(value, to: $0) }
    }
}

/// Where the encoder writes: one raw write of at most `maxBytes` per operation.
protocol RawByteSink {
    mutating func writeRaw(maxBytes: Int, _ fill: (UnsafeMutableRawPointer) -> Int)
}

extension ByteBuffer: RawByteSink {
    @inline(__always)
    mutating func writeRaw(maxBytes: Int, _ fill: (UnsafeMutableRawPointer) -> Int) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: maxBytes) { out in
            out.baseAddress.map(fill) ?? 0
        }
    }
}

extension OutboundBuffer: RawByteSink {
    @inline(__always)
    mutating func writeRaw(maxBytes: Int, _ fill: (UnsafeMutableRawPointer) -> Int) {
        write(maxBytes: maxBytes, fill)
    }
}

/// Raw-pointer writes for the encoder; the caller reserved room for them.
enum RawWriter {
    @inline(__always)
    static func copy(_ text: StaticString, to out: UnsafeMutableRawPointer) -> Int {
        out.copyMemory(from: UnsafeRawPointer(text.utf8Start), byteCount: text.utf8CodeUnitCount)
        return text.utf8CodeUnitCount
    }

    @inline(__always)
    static func copy(_ bytes: UnsafeBufferPointer<UInt8>, to out: UnsafeMutableRawPointer) -> Int {
        if let b = bytes.baseAddress { out.copyMemory(from: UnsafeRawPointer(b), byteCount: bytes.count) }
        return bytes.count
    }

    @inline(__always)
    static func copy(_ text: String, to out: UnsafeMutableRawPointer) -> Int {
        var text = text
        return text.withUTF8 { copy($0, to: out) }
    }

    @inline(__always)
    static func crlf(_ out: UnsafeMutableRawPointer) -> Int {
        out.storeBytes(of: UInt8(ascii: "\r"), as: UInt8.self)
        out.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: 1, as: UInt8.self)
        return 2
    }

    /// Writes `value` in decimal at `out` (room for 20 digits) and returns the digit count.
    @inline(__always)
    static func decimal(_ value: UInt64, to out: UnsafeMutableRawPointer) -> Int {
        var v = value
        var digits = 1
        while v >= 10 { v /= 10; digits += 1 }
        v = value
        var k = digits - 1
        while true {
            out.storeBytes(of: UInt8(truncatingIfNeeded: 0x30 + v % 10), toByteOffset: k, as: UInt8.self)
            v /= 10
            if k == 0 { break }
            k -= 1
        }
        return digits
    }
}

/// Writes the members of one JSON object, escaping strings as RFC 8259 requires.
struct JSONObjectWriter {
    private var first = true

    private mutating func key(_ name: StaticString, _ buffer: inout ByteBuffer) {
        if !first { buffer.writeInteger(UInt8(ascii: ",")) }
        first = false
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(name)
        buffer.writeStaticString("\":")
    }

    mutating func bool(_ name: StaticString, _ value: Bool, _ buffer: inout ByteBuffer) {
        key(name, &buffer)
        if value { buffer.writeStaticString("true") } else { buffer.writeStaticString("false") }
    }

    mutating func int(_ name: StaticString, _ value: Int, _ buffer: inout ByteBuffer) {
        key(name, &buffer)
        if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
        ClientOpEncoder.writeDecimal(value.magnitude.asUInt64, to: &buffer)
    }

    mutating func string(_ name: StaticString, _ value: String, _ buffer: inout ByteBuffer) {
        key(name, &buffer)
        Self.writeEscaped(value, to: &buffer)
    }

    static func writeEscaped(_ value: String, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        for b in value.utf8 {
            switch b {
            case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case 0x0A: buffer.writeStaticString("\\n")
            case 0x0D: buffer.writeStaticString("\\r")
            case 0x09: buffer.writeStaticString("\\t")
            case 0x00..<0x20:
                buffer.writeStaticString("\\u00")
                buffer.writeInteger(hex[Int(b >> 4)])
                buffer.writeInteger(hex[Int(b & 0x0F)])
            default: buffer.writeInteger(b)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}

extension UInt {
    fileprivate var asUInt64: UInt64 { UInt64(self) }
}
