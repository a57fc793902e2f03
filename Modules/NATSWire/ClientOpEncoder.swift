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

    /// `PUB <subject> [reply] <size>\r\n<payload>\r\n`.
    public static func writePub(subject: String, reply: String?, payload: ByteBuffer, to buffer: inout ByteBuffer) {
        let size = UInt64(payload.readableBytes)
        payload.withUnsafeReadableBytes { body in
            writeLine("PUB ", subject: subject, reply: reply, first: size, second: nil, body: body, to: &buffer)
        }
    }

    /// `PUB` with a payload from any contiguous bytes.
    public static func writePub(subject: String, reply: String?, payload: some Collection<UInt8>, to buffer: inout ByteBuffer) {
        let size = UInt64(payload.count)
        let done: Void? = payload.withContiguousStorageIfAvailable { bytes in
            writeLine("PUB ", subject: subject, reply: reply, first: size, second: nil, body: UnsafeRawBufferPointer(bytes), to: &buffer)
        }
        if done == nil {
            writeLine("PUB ", subject: subject, reply: reply, first: size, second: nil, body: nil, to: &buffer)
            buffer.writeBytes(payload)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Writes `<op><subject> [reply] <first>[ <second>]\r\n`, then `body` and CRLF when a body
    /// is given, with one unsafe write: each separate ByteBuffer call pays its own bounds and
    /// exclusivity checks, which dominated the cost of a small PUB.
    @inline(__always)
    private static func writeLine(
        _ op: StaticString, subject: String, reply: String?, first: UInt64, second: UInt64?,
        body: UnsafeRawBufferPointer? = nil, to buffer: inout ByteBuffer
    ) {
        let capacity = op.utf8CodeUnitCount + subject.utf8.count + (reply?.utf8.count ?? 0) + 2 * 21 + 4 + (body.map { $0.count + 2 } ?? 0)
        let written: Int? = subject.utf8.withContiguousStorageIfAvailable { subjectBytes -> Int? in
            let replyWritten: Int?? = reply.map { r in r.utf8.withContiguousStorageIfAvailable { replyBytes -> Int in
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { out in
                    fill(out, op, subjectBytes, replyBytes, first, second, body)
                }
            } }
            if let replyWritten { return replyWritten }
            return buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { out in
                fill(out, op, subjectBytes, nil, first, second, body)
            }
        } ?? nil
        if written != nil { return }
        // Strings without contiguous UTF-8 storage (rare): the plain path.
        defer {
            if let body {
                buffer.writeBytes(body)
                buffer.writeStaticString("\r\n")
            }
        }
        buffer.writeStaticString(op)
        buffer.writeString(subject)
        buffer.writeInteger(UInt8(ascii: " "))
        if let reply {
            buffer.writeString(reply)
            buffer.writeInteger(UInt8(ascii: " "))
        }
        writeDecimal(first, to: &buffer)
        if let second {
            buffer.writeInteger(UInt8(ascii: " "))
            writeDecimal(second, to: &buffer)
        }
        buffer.writeStaticString("\r\n")
    }

    @inline(__always)
    private static func fill(
        _ out: UnsafeMutableRawBufferPointer, _ op: StaticString, _ subject: UnsafeBufferPointer<UInt8>,
        _ reply: UnsafeBufferPointer<UInt8>?, _ first: UInt64, _ second: UInt64?,
        _ body: UnsafeRawBufferPointer?
    ) -> Int {
        guard let base = out.baseAddress else { return 0 }
        var i = 0
        func copy(_ p: UnsafeRawPointer, _ n: Int) {
            (base + i).copyMemory(from: p, byteCount: n)
            i += n
        }
        copy(UnsafeRawPointer(op.utf8Start), op.utf8CodeUnitCount)
        if let s = subject.baseAddress { copy(UnsafeRawPointer(s), subject.count) }
        base.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
        i += 1
        if let reply {
            if let r = reply.baseAddress { copy(UnsafeRawPointer(r), reply.count) }
            base.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
            i += 1
        }
        i += putDecimal(first, base + i)
        if let second {
            base.storeBytes(of: UInt8(ascii: " "), toByteOffset: i, as: UInt8.self)
            i += 1
            i += putDecimal(second, base + i)
        }
        base.storeBytes(of: UInt8(ascii: "\r"), toByteOffset: i, as: UInt8.self)
        base.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: i + 1, as: UInt8.self)
        i += 2
        if let body {
            if let b = body.baseAddress, body.count > 0 { copy(b, body.count) }
            base.storeBytes(of: UInt8(ascii: "\r"), toByteOffset: i, as: UInt8.self)
            base.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: i + 1, as: UInt8.self)
            i += 2
        }
        return i
    }

    /// Writes `value` in decimal at `out` (room for 20 digits) and returns the digit count.
    @inline(__always)
    private static func putDecimal(_ value: UInt64, _ out: UnsafeMutableRawPointer) -> Int {
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

    /// `HPUB <subject> [reply] <header size> <total size>\r\n<headers><payload>\r\n`.
    public static func writeHPub(subject: String, reply: String?, headers: NATSHeaders, payload: ByteBuffer, to buffer: inout ByteBuffer) {
        writeHPubLine(subject: subject, reply: reply, headers: headers, size: payload.readableBytes, to: &buffer)
        buffer.writeImmutableBuffer(payload)
        buffer.writeStaticString("\r\n")
    }

    /// `HPUB` with a payload from any contiguous bytes.
    public static func writeHPub(subject: String, reply: String?, headers: NATSHeaders, payload: some Collection<UInt8>, to buffer: inout ByteBuffer) {
        writeHPubLine(subject: subject, reply: reply, headers: headers, size: payload.count, to: &buffer)
        buffer.writeBytes(payload)
        buffer.writeStaticString("\r\n")
    }

    private static func writeHPubLine(subject: String, reply: String?, headers: NATSHeaders, size: Int, to buffer: inout ByteBuffer) {
        let headerLength = headers.wireLength
        writeLine("HPUB ", subject: subject, reply: reply, first: UInt64(headerLength), second: UInt64(headerLength + size), to: &buffer)
        headers.write(to: &buffer)
    }

    /// `SUB <subject> [queue] <sid>\r\n`.
    public static func writeSub(subject: String, queue: String?, sid: UInt64, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("SUB ")
        buffer.writeString(subject)
        buffer.writeInteger(UInt8(ascii: " "))
        if let queue {
            buffer.writeString(queue)
            buffer.writeInteger(UInt8(ascii: " "))
        }
        writeDecimal(sid, to: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// `UNSUB <sid> [max]\r\n`.
    public static func writeUnsub(sid: UInt64, max: UInt64?, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("UNSUB ")
        writeDecimal(sid, to: &buffer)
        if let max {
            buffer.writeInteger(UInt8(ascii: " "))
            writeDecimal(max, to: &buffer)
        }
        buffer.writeStaticString("\r\n")
    }

    /// `PING\r\n`.
    public static func writePing(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("PING\r\n")
    }

    /// `PONG\r\n`.
    public static func writePong(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("PONG\r\n")
    }

    /// Writes `value` in decimal ASCII.
    public static func writeDecimal(_ value: UInt64, to buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { out in
            var v = value
            var digits = 1
            while v >= 10 { v /= 10; digits += 1 }
            v = value
            var i = digits - 1
            while true {
                out[i] = UInt8(truncatingIfNeeded: 0x30 + v % 10)
                v /= 10
                if i == 0 { break }
                i -= 1
            }
            return digits
        }
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
