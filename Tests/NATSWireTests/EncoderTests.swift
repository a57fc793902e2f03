import NIOCore
import Testing
@testable import NATSWire

func encoded(_ body: (inout ByteBuffer) -> Void) -> String {
    var buffer = ByteBuffer()
    body(&buffer)
    return String(buffer: buffer)
}

func encodedOutbound(_ body: (inout OutboundBuffer) -> Void) -> String {
    var buffer = OutboundBuffer(minimumCapacity: 0)
    body(&buffer)
    return buffer.withUnsafeReadableBytes { String(decoding: $0, as: UTF8.self) }
}

@Suite struct EncoderTests {
    @Test func pub() {
        #expect(encoded { ClientOpEncoder.writePub(subject: "foo", reply: nil, payload: ByteBuffer(string: "hello"), to: &$0) } == "PUB foo 5\r\nhello\r\n")
        #expect(encoded { ClientOpEncoder.writePub(subject: "foo", reply: "bar", payload: Array("hi".utf8), to: &$0) } == "PUB foo bar 2\r\nhi\r\n")
        #expect(encoded { ClientOpEncoder.writePub(subject: "e", reply: nil, payload: [UInt8](), to: &$0) } == "PUB e 0\r\n\r\n")
    }

    @Test func hpub() {
        var h = NATSHeaders()
        h["Bar"] = "Baz"
        let block = "NATS/1.0\r\nBar: Baz\r\n\r\n"
        #expect(h.wireLength == block.utf8.count)
        #expect(encoded { ClientOpEncoder.writeHPub(subject: "foo", reply: "r", headers: h, payload: ByteBuffer(string: "Hello"), to: &$0) }
                == "HPUB foo r \(block.utf8.count) \(block.utf8.count + 5)\r\n\(block)Hello\r\n")
        #expect(encoded { ClientOpEncoder.writeHPub(subject: "foo", reply: nil, headers: NATSHeaders(), payload: [UInt8](), to: &$0) }
                == "HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n")
    }

    @Test func subUnsubPingPong() {
        #expect(encoded { ClientOpEncoder.writeSub(subject: "foo.*", queue: nil, sid: 1, to: &$0) } == "SUB foo.* 1\r\n")
        #expect(encoded { ClientOpEncoder.writeSub(subject: "foo", queue: "workers", sid: 42, to: &$0) } == "SUB foo workers 42\r\n")
        #expect(encoded { ClientOpEncoder.writeUnsub(sid: 1, max: nil, to: &$0) } == "UNSUB 1\r\n")
        #expect(encoded { ClientOpEncoder.writeUnsub(sid: 18446744073709551615, max: 5, to: &$0) } == "UNSUB 18446744073709551615 5\r\n")
        #expect(encoded { ClientOpEncoder.writePing(to: &$0) } == "PING\r\n")
        #expect(encoded { ClientOpEncoder.writePong(to: &$0) } == "PONG\r\n")
    }

    /// Every operation encodes to the same bytes into an OutboundBuffer as into a ByteBuffer,
    /// also across its growth (the buffer starts at its minimum capacity, 64 bytes).
    @Test func outboundBufferMatchesByteBuffer() {
        var h = NATSHeaders()
        h["K"] = "v"
        let big = [UInt8](repeating: 0x61, count: 5000)
        let viaByteBuffer = encoded { b in
            for i in 0..<50 {
                ClientOpEncoder.writePub(subject: "s.\(i)", reply: i % 2 == 0 ? nil : "r", payload: ByteBuffer(string: "p\(i)"), to: &b)
                ClientOpEncoder.writeHPub(subject: "h", reply: nil, headers: h, payload: Array("x".utf8), to: &b)
            }
            ClientOpEncoder.writePub(subject: "big", reply: nil, payload: big, to: &b)
            ClientOpEncoder.writeSub(subject: "q", queue: "g", sid: 3, to: &b)
            ClientOpEncoder.writeUnsub(sid: 3, max: 10, to: &b)
            ClientOpEncoder.writePing(to: &b)
            ClientOpEncoder.writePong(to: &b)
        }
        let viaOutbound = encodedOutbound { b in
            for i in 0..<50 {
                ClientOpEncoder.writePub(subject: "s.\(i)", reply: i % 2 == 0 ? nil : "r", payload: ByteBuffer(string: "p\(i)"), to: &b)
                ClientOpEncoder.writeHPub(subject: "h", reply: nil, headers: h, payload: Array("x".utf8), to: &b)
            }
            ClientOpEncoder.writePub(subject: "big", reply: nil, payload: big, to: &b)
            ClientOpEncoder.writeSub(subject: "q", queue: "g", sid: 3, to: &b)
            ClientOpEncoder.writeUnsub(sid: 3, max: 10, to: &b)
            ClientOpEncoder.writePing(to: &b)
            ClientOpEncoder.writePong(to: &b)
        }
        #expect(viaOutbound == viaByteBuffer)
    }

    /// The raw form (a subject that is already bytes) writes what the typed overloads write.
    @Test func pubFromRawParts() {
        var h = NATSHeaders()
        h["A"] = "b"
        let raw = encodedOutbound { b in
            "_INBOX.abc.1".utf8.withContiguousStorageIfAvailable { subject in
                "hello".utf8.withContiguousStorageIfAvailable { body in
                    ClientOpEncoder.writePub(subject: UnsafeRawBufferPointer(subject), reply: nil, headers: nil, payload: UnsafeRawBufferPointer(body), to: &b)
                    ClientOpEncoder.writePub(subject: UnsafeRawBufferPointer(subject), reply: nil, headers: h, payload: UnsafeRawBufferPointer(body), to: &b)
                }
            }
        }
        let typed = encoded { b in
            ClientOpEncoder.writePub(subject: "_INBOX.abc.1", reply: nil, payload: ByteBuffer(string: "hello"), to: &b)
            ClientOpEncoder.writeHPub(subject: "_INBOX.abc.1", reply: nil, headers: h, payload: ByteBuffer(string: "hello"), to: &b)
        }
        #expect(raw == typed)
    }

    /// The checked PUB writes what `writePub` writes when subject and reply have only visible
    /// bytes, and nothing at all (returning false) when either has a space, a control byte or
    /// is empty, with the buffer holding what it held before.
    @Test func visiblePubWritesOnlyVisibleSubjects() {
        let long = String(repeating: "tok.", count: 20) + "end"
        for (subject, reply) in [("foo", nil), ("foo", "bar"), (long, nil), ("a.*.>", long), ("é.ü", "r")] as [(String, String?)] {
            let checked = encodedOutbound { b in
                #expect(ClientOpEncoder.writeVisiblePub(subject: subject, reply: reply, payload: ByteBuffer(string: "hello"), to: &b))
                #expect(ClientOpEncoder.writeVisiblePub(subject: subject, reply: reply, payload: Array("hi".utf8), to: &b))
            }
            let plain = encodedOutbound { b in
                ClientOpEncoder.writePub(subject: subject, reply: reply, payload: ByteBuffer(string: "hello"), to: &b)
                ClientOpEncoder.writePub(subject: subject, reply: reply, payload: Array("hi".utf8), to: &b)
            }
            #expect(checked == plain)
        }
        for (subject, reply) in [("a b", nil), ("", nil), ("a\tb", nil), ("a\r\nPUB x 1", nil), ("ctl\u{01}", nil), (long + " ", nil),
                                 ("ok", "has space"), ("ok", ""), ("ok", "r\n"), ("ok", long + "\u{7}")] as [(String, String?)] {
            let text = encodedOutbound { b in
                ClientOpEncoder.writePing(to: &b)
                #expect(!ClientOpEncoder.writeVisiblePub(subject: subject, reply: reply, payload: ByteBuffer(string: "x"), to: &b))
                #expect(!ClientOpEncoder.writeVisiblePub(subject: subject, reply: reply, payload: Array("x".utf8), to: &b))
            }
            #expect(text == "PING\r\n")
        }
    }

    /// A copy of an OutboundBuffer keeps its bytes when the original is written or cleared.
    @Test func outboundBufferCopiesOnWrite() {
        var a = OutboundBuffer(minimumCapacity: 0)
        ClientOpEncoder.writePing(to: &a)
        let b = a
        ClientOpEncoder.writePong(to: &a)
        #expect(b.count == 6)
        #expect(a.count == 12)
        a.removeAll()
        #expect(a.isEmpty)
        #expect(b.withUnsafeReadableBytes { String(decoding: $0, as: UTF8.self) } == "PING\r\n")
    }

    @Test(arguments: [UInt64(0), 7, 10, 99, 100, 12345, UInt64.max])
    func decimal(value: UInt64) {
        #expect(encoded { ClientOpEncoder.writeDecimal(value, to: &$0) } == String(value))
    }

    @Test func connect() {
        var info = ConnectInfo()
        #expect(encoded { ClientOpEncoder.writeConnect(info, to: &$0) } ==
            #"CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"lang":"swift","version":"\#(NATSWireVersion.clientVersion)","protocol":1,"echo":true,"headers":true,"no_responders":true}"# + "\r\n")
        info.name = "my \"app\"\n"
        info.echo = false
        info.user = "u"
        info.pass = "p\\w"
        info.authToken = "t"
        info.jwt = "j"
        info.nkey = "UABC"
        info.sig = "s"
        info.tlsRequired = true
        #expect(encoded { ClientOpEncoder.writeConnect(info, to: &$0) } ==
            #"CONNECT {"verbose":false,"pedantic":false,"tls_required":true,"name":"my \"app\"\n","lang":"swift","version":"\#(NATSWireVersion.clientVersion)","protocol":1,"echo":false,"headers":true,"no_responders":true,"user":"u","pass":"p\\w","auth_token":"t","jwt":"j","nkey":"UABC","sig":"s"}"# + "\r\n")
    }

    @Test func connectJSONEscapesControlCharacters() {
        var info = ConnectInfo()
        info.name = "a\u{01}b"
        #expect(encoded { ClientOpEncoder.writeConnect(info, to: &$0) }.contains(#""name":"a\u0001b""#))
    }

    @Test func connectInfoDescriptionHidesSecrets() {
        var info = ConnectInfo()
        info.user = "alice"
        info.pass = "hunter2"
        info.authToken = "s3cr3t-token"
        info.jwt = "eyJhbGciOi"
        info.sig = "c2lnbmF0dXJl"
        var dumped = ""
        dump(info, to: &dumped)
        let text = "\(info) \(String(reflecting: info)) \(dumped)"
        for secret in ["hunter2", "s3cr3t-token", "eyJhbGciOi", "c2lnbmF0dXJl"] {
            #expect(!text.contains(secret))
        }
        #expect(text.contains("alice"))
    }
}
