import NATSTestSupport
import NATSTransport
import NIOCore
import Testing

@_spi(Benchmarks) @testable import NATSWebSocket

/// Bytes from a hex string; spaces are ignored.
func hex(_ text: String) -> [UInt8] {
    let digits = Array(text.utf8.filter { $0 != UInt8(ascii: " ") })
    var bytes = [UInt8]()
    var i = 0
    while i + 1 < digits.count {
        bytes.append(UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16)!)
        i += 2
    }
    return bytes
}

func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}

/// Deterministic generator (SplitMix64) for keys in tests.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Parses `bytes` as the client does (parser + assembler), returning every event.
func clientEvents(
    _ bytes: [UInt8],
    maxMessageSize: Int = 1 << 20,
    compression: Bool = false
) throws(WebSocketError) -> [MessageAssembler.Event] {
    var parser = FrameParser(role: .client, maxFrameSize: maxMessageSize, allowsCompression: compression)
    var assembler = MessageAssembler(maxMessageSize: maxMessageSize)
    var input = buffer(bytes)
    var events: [MessageAssembler.Event] = []
    while let frame = try parser.next(from: &input) {
        if let event = try assembler.receive(frame) { events.append(event) }
    }
    return events
}

/// A comparable summary of an event.
func describe(_ event: MessageAssembler.Event) -> String {
    switch event {
    case .message(let payload, let compressed): "message(\(payload.bytes), \(compressed))"
    case .ping(let payload): "ping(\(payload.bytes))"
    case .pong(let payload): "pong(\(payload.bytes))"
    case .close(let code, let reason): "close(\(code.map { "\($0.rawValue)" } ?? "nil"), \(reason))"
    }
}

/// The server half of an in-memory WebSocket connection, scripted by a test.
struct ScriptedServer {
    let stream: InMemoryByteStream
    var inbound = ByteBuffer()
    var parser = FrameParser(role: .server, maxFrameSize: 1 << 26, allowsCompression: true)

    init(_ stream: InMemoryByteStream) {
        self.stream = stream
    }

    /// Reads the HTTP request; returns its text (header block without the final CRLF).
    mutating func readRequest() async throws -> String {
        while true {
            let view = inbound.readableBytesView
            if let range = findCRLFCRLF(Array(view)) {
                let text = inbound.readString(length: range) ?? ""
                inbound.moveReaderIndex(forwardBy: 4)
                return text
            }
            guard var chunk = try await stream.read() else { throw WebSocketError.closedDuringHandshake }
            inbound.writeBuffer(&chunk)
        }
    }

    /// Answers with 101 and the right accept value, plus `extraLines` and `trailing` bytes.
    func accept(request: String, extraLines: [String] = [], trailing: [UInt8] = []) async throws {
        let key = Self.header("Sec-WebSocket-Key", in: request) ?? ""
        var lines = [
            "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Accept: \(ClientHandshake.acceptValue(forKey: key))",
        ]
        lines += extraLines
        var response = ByteBuffer(string: lines.joined(separator: "\r\n") + "\r\n\r\n")
        response.writeBytes(trailing)
        try await stream.write(response)
    }

    static func header(_ name: String, in request: String) -> String? {
        for line in request.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                return parts[1].trimmingCharacters(in: " ")
            }
        }
        return nil
    }

    /// The next frame from the client (unmasked), or nil at end of stream.
    mutating func readFrame() async throws -> Frame? {
        while true {
            if let frame = try parser.next(from: &inbound) { return frame }
            guard var chunk = try await stream.read() else { return nil }
            inbound.writeBuffer(&chunk)
        }
    }

    /// Sends one unmasked frame.
    func send(fin: Bool = true, rsv1: Bool = false, _ opcode: WebSocketOpcode, _ payload: [UInt8]) async throws {
        var out = ByteBuffer()
        FrameEncoder.encode(fin: fin, rsv1: rsv1, opcode: opcode, payload: buffer(payload), maskingKey: nil, into: &out)
        try await stream.write(out)
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await stream.write(buffer(bytes))
    }
}

func findCRLFCRLF(_ bytes: [UInt8]) -> Int? {
    guard bytes.count >= 4 else { return nil }
    for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
        return i
    }
    return nil
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
