internal import CNATSOpenSSL
internal import NIOCore

/// The client side of the RFC 6455 §4 opening handshake, sans-I/O: builds the request,
/// then consumes the response in arbitrary chunks and validates it. Bytes after the
/// header block (the server's first frames) are handed back untouched.
struct ClientHandshake {
    /// Upper bound on the response header block.
    static let maxHeaderBlockSize = 16 * 1024
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    struct Result: Sendable {
        /// Agreed permessage-deflate parameters, or nil when not negotiated.
        var deflate: PerMessageDeflate.Parameters?
        /// Bytes that followed the header block.
        var leftover: ByteBuffer
    }

    let key: String
    let expectedAccept: String
    /// The deflate configuration we offered, or nil if we offered none.
    let offeredDeflate: PerMessageDeflate.Configuration?
    private var received = ByteBuffer()
    private var scanned = 0

    init(key: String, offeredDeflate: PerMessageDeflate.Configuration?) {
        self.key = key
        self.expectedAccept = Self.acceptValue(forKey: key)
        self.offeredDeflate = offeredDeflate
    }

    /// `Sec-WebSocket-Key`: base64 of 16 random bytes (RFC 6455 §4.1).
    static func makeKey(using generator: inout some RandomNumberGenerator) -> String {
        let a = generator.next()
        let b = generator.next()
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        for word in [a, b] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return Base64.encode(bytes)
    }

    /// base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
    static func acceptValue(forKey key: String) -> String {
        let input = Array((key + acceptGUID).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        input.withUnsafeBufferPointer { source in
            digest.withUnsafeMutableBufferPointer { out in
                _ = SHA1(source.baseAddress, source.count, out.baseAddress)
            }
        }
        return Base64.encode(digest)
    }

    // MARK: - Request

    /// The GET request. Validates everything that goes into it, so no configuration value
    /// can inject header lines.
    static func request(
        host: String,
        port: Int,
        secure: Bool,
        configuration: WebSocketConfiguration,
        key: String
    ) throws(WebSocketError) -> String {
        try configuration.validate()
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else {
            throw .invalidConfiguration("the host must be a non-empty name or IP literal without spaces or control characters")
        }
        guard (1...65535).contains(port) else { throw .invalidConfiguration("the port \(port) is out of range") }
        let path = configuration.path.isEmpty ? "/" : configuration.path
        var request = "GET \(path) HTTP/1.1\r\n"
        request += "Host: \(hostHeader(host: host, port: port, secure: secure))\r\n"
        request += "Upgrade: websocket\r\n"
        request += "Connection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\n"
        request += "Sec-WebSocket-Version: 13\r\n"
        if let origin = configuration.origin { request += "Origin: \(origin)\r\n" }
        if configuration.compression {
            request += "Sec-WebSocket-Extensions: \(PerMessageDeflate.offer(configuration.deflate))\r\n"
        }
        for (name, value) in configuration.extraHeaders { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        return request
    }

    /// `host[:port]`, IPv6 literals in brackets, the port left out when it is the scheme's default.
    static func hostHeader(host: String, port: Int, secure: Bool) -> String {
        let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }

    // MARK: - Response

    /// Consumes `chunk`; returns the result once the header block is complete and valid,
    /// or nil when more bytes are needed.
    mutating func receive(_ chunk: ByteBuffer) throws(WebSocketError) -> Result? {
        var chunk = chunk
        received.writeBuffer(&chunk)
        guard let end = findEndOfHeaders() else {
            // A block of the maximum size may still be waiting for 3 bytes of its CRLFCRLF.
            guard received.readableBytes <= Self.maxHeaderBlockSize + 3 else {
                throw .responseTooLarge(limit: Self.maxHeaderBlockSize)
            }
            return nil
        }
        guard end <= Self.maxHeaderBlockSize else { throw .responseTooLarge(limit: Self.maxHeaderBlockSize) }
        let headerBytes = received.readBytes(length: end) ?? []
        received.moveReaderIndex(forwardBy: 4)
        let deflate = try validate(headerBytes)
        let leftover = received.readSlice(length: received.readableBytes) ?? ByteBuffer()
        return Result(deflate: deflate, leftover: leftover)
    }

    /// Offset of the CRLFCRLF that ends the header block, scanning only new bytes.
    private mutating func findEndOfHeaders() -> Int? {
        let view = received.readableBytesView
        let count = view.count
        var i = max(0, scanned - 3)
        let base = view.startIndex
        while i + 4 <= count {
            if view[base + i] == 13 && view[base + i + 1] == 10 && view[base + i + 2] == 13 && view[base + i + 3] == 10 {
                return i
            }
            i += 1
        }
        scanned = count
        return nil
    }

    private func validate(_ headerBytes: [UInt8]) throws(WebSocketError) -> PerMessageDeflate.Parameters? {
        var lines = headerBytes.split(separator: 10, omittingEmptySubsequences: false).map { line in
            line.last == 13 ? line.dropLast() : line[...]
        }
        guard !lines.isEmpty else { throw .malformedResponse("empty response") }
        let statusBytes = lines.removeFirst()
        let statusLine = String(sanitizingPeerText: statusBytes)
        let parts = statusBytes.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)),
            parts[1].count == 3, parts[1].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else {
            throw .malformedResponse("the status line is not HTTP/1.x", statusLine: statusLine)
        }
        guard parts[1].elementsEqual(Array("101".utf8)) else { throw .unexpectedStatus(statusLine) }

        var headers: [String: [String]] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                throw .malformedResponse("a header line has no name", statusLine: statusLine)
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingHTTPWhitespace()
            headers[name, default: []].append(value)
        }

        func tokens(_ name: String) -> [String] {
            (headers[name] ?? []).flatMap { $0.split(separator: ",") }.map { $0.trimmingHTTPWhitespace().lowercased() }
        }
        guard tokens("upgrade").contains("websocket") else {
            throw .invalidUpgrade("the response's Upgrade header is not websocket", statusLine: statusLine)
        }
        guard tokens("connection").contains("upgrade") else {
            throw .invalidUpgrade("the response's Connection header does not contain Upgrade", statusLine: statusLine)
        }
        guard let accepts = headers["sec-websocket-accept"] else { throw .missingAccept(statusLine: statusLine) }
        guard accepts.count == 1, accepts[0] == expectedAccept else { throw .invalidAccept(statusLine: statusLine) }
        if let protocols = headers["sec-websocket-protocol"], protocols.contains(where: { !$0.isEmpty }) {
            throw .unexpectedSubprotocol(statusLine: statusLine)
        }
        return try negotiateExtensions(headers["sec-websocket-extensions"] ?? [], statusLine: statusLine)
    }

    private func negotiateExtensions(_ values: [String], statusLine: String) throws(WebSocketError) -> PerMessageDeflate.Parameters? {
        let extensions = Self.parseExtensions(values)
        guard !extensions.isEmpty else { return nil }
        guard let offered = offeredDeflate else {
            throw .unexpectedExtension("we offered no extension but the server accepted \(extensions[0].name)", statusLine: statusLine)
        }
        guard extensions.count == 1, extensions[0].name == PerMessageDeflate.extensionName else {
            let names = extensions.map(\.name).joined(separator: ", ")
            throw .unexpectedExtension("only permessage-deflate was offered, the server accepted \(names)", statusLine: statusLine)
        }
        switch PerMessageDeflate.accept(parameters: extensions[0].parameters, offered: offered) {
        case .success(let parameters): return parameters
        case .failure(let rejection): throw .unexpectedExtension(rejection.reason, statusLine: statusLine)
        }
    }

    /// Parses `Sec-WebSocket-Extensions` values (RFC 6455 §9.1): a comma-separated list of
    /// `name; param; param=value` with optional quoted values. Names are lowercased and
    /// shown sanitized.
    static func parseExtensions(_ values: [String]) -> [(name: String, parameters: [(name: String, value: String?)])] {
        var result: [(name: String, parameters: [(name: String, value: String?)])] = []
        for value in values {
            for item in value.split(separator: ",") {
                let pieces = item.split(separator: ";").map { $0.trimmingHTTPWhitespace() }
                guard let first = pieces.first, !first.isEmpty else { continue }
                var parameters: [(name: String, value: String?)] = []
                for piece in pieces.dropFirst() where !piece.isEmpty {
                    if let equals = piece.firstIndex(of: "=") {
                        let name = piece[..<equals].trimmingHTTPWhitespace().lowercased()
                        var value = piece[piece.index(after: equals)...].trimmingHTTPWhitespace()
                        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                            value = String(value.dropFirst().dropLast())
                        }
                        parameters.append((String(sanitizingPeerText: Array(name.utf8), limit: 64), value))
                    } else {
                        parameters.append((String(sanitizingPeerText: Array(piece.lowercased().utf8), limit: 64), nil))
                    }
                }
                result.append((String(sanitizingPeerText: Array(first.lowercased().utf8), limit: 64), parameters))
            }
        }
        return result
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmingHTTPWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) }) ?? start
        return String(self[start...end])
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the handshake key and accept value.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let triple = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(triple >> 18 & 63)])
            out.append(alphabet[Int(triple >> 12 & 63)])
            out.append(i + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
