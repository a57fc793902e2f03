import NIOCore
import Testing
@testable import NATSWire

@Suite struct HeaderTests {
    func roundTrip(_ h: NATSHeaders) throws -> NATSHeaders {
        try h.validate()
        var b = ByteBuffer()
        h.write(to: &b)
        #expect(b.readableBytes == h.wireLength)
        return try NATSHeaders.parse(b)
    }

    @Test func roundTrips() throws {
        var h = NATSHeaders()
        h.append("1", for: "A")
        h.append("2", for: "A")
        h["B"] = "x y"
        h.append("3", for: "A")
        #expect(h.values(for: "A") == ["1", "2", "3"])
        #expect(try roundTrip(h) == h)
        h.status = 503
        #expect(try roundTrip(h) == h)
        h.statusDescription = "No Responders"
        #expect(try roundTrip(h) == h)
        #expect(try roundTrip(NATSHeaders()) == NATSHeaders())
    }

    @Test func subscriptSetReplacesAllValues() {
        var h: NATSHeaders = ["A": "1", "B": "2"]
        h.append("3", for: "A")
        h["A"] = "9"
        #expect(h.values(for: "A") == ["9"])
        #expect(h.entries.map(\.name) == ["A", "B"])
        h["A"] = nil
        #expect(h["A"] == nil)
        #expect(!h.isEmpty)
    }

    @Test(arguments: [
        ("NATS/1.0 503\r\n\r\n", 503, nil),
        ("NATS/1.0 408 Request Timeout\r\n\r\n", 408, "Request Timeout"),
        ("NATS/1.0 404 No Messages\r\n\r\n", 404, "No Messages"),
        ("NATS/1.0 409 Consumer Deleted\r\n\r\n", 409, "Consumer Deleted"),
        ("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\n\r\n", 100, "Idle Heartbeat"),
        ("NATS/1.0\r\n\r\n", nil, nil),
    ] as [(String, Int?, String?)])
    func statusLines(text: String, status: Int?, description: String?) throws {
        let h = try NATSHeaders.parse(ByteBuffer(string: text))
        #expect(h.status == status)
        #expect(h.statusDescription == description)
    }

    @Test func valuesAreTrimmedAndMayContainColons() throws {
        let h = try NATSHeaders.parse(ByteBuffer(string: "NATS/1.0\r\nUrl:  http://x:1/ \r\nEmpty:\r\n\r\n"))
        #expect(h["Url"] == "http://x:1/")
        #expect(h["Empty"] == "")
    }

    @Test(arguments: [
        ("HTTP/1.1\r\n\r\n", HeaderError.Reason.missingVersion),
        ("", .missingVersion),
        ("NATS/1.0 50\r\n\r\n", .invalidStatus),
        ("NATS/1.0 abc\r\n\r\n", .invalidStatus),
        ("NATS/1.0\r\nNoColon\r\n\r\n", .missingColon),
        ("NATS/1.0\r\nBäd: x\r\n\r\n", .invalidName),
        ("NATS/1.0\r\n: x\r\n\r\n", .invalidName),
        ("NATS/1.0\r\nA: b\nC: d\r\n\r\n", .malformedLine),
        ("NATS/1.0\r\nA: b\r\r\n\r\n", .malformedLine),
        ("NATS/1.0\r\nA: b", .malformedLine),
        ("NATS/1.0\r\n\r\nA: b\r\n", .malformedLine),
    ] as [(String, HeaderError.Reason)])
    func hostileHeaders(text: String, reason: HeaderError.Reason) {
        #expect(throws: HeaderError.self) { try NATSHeaders.parse(ByteBuffer(string: text)) }
        do {
            _ = try NATSHeaders.parse(ByteBuffer(string: text))
        } catch {
            #expect(error.reason == reason)
        }
    }

    @Test func nonUTF8ValuesAreKeptLossily() throws {
        var b = ByteBuffer(string: "NATS/1.0\r\nA: ")
        b.writeBytes([0xFF, 0xFE])
        b.writeString("\r\n\r\n")
        let h = try NATSHeaders.parse(b)
        #expect(h["A"] != nil)
    }

    @Test func validateRejectsInjection() {
        var h = NATSHeaders()
        h["A"] = "x\r\nPUB evil 0"
        #expect(throws: HeaderError.self) { try h.validate() }
        var n = NATSHeaders()
        n["Has Space"] = "x"
        #expect(throws: HeaderError.self) { try n.validate() }
        var s = NATSHeaders()
        s.status = 5
        #expect(throws: HeaderError.self) { try s.validate() }
    }
}
