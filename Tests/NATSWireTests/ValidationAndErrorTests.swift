import NIOCore
import Testing
@testable import NATSWire

@Suite struct SubjectValidationTests {
    @Test(arguments: ["foo", "foo.bar", "a.*.>", ".starts", "ends.", "a..b", "ünïcode"])
    func validPublish(subject: String) throws {
        try SubjectValidation.validatePublish(subject)
    }

    @Test(arguments: [("", SubjectValidationError.Reason.empty), ("a b", .whitespace), ("a\tb", .whitespace), ("a\r\n", .whitespace), ("a\n", .whitespace)])
    func invalidPublish(subject: String, reason: SubjectValidationError.Reason) {
        #expect(throws: SubjectValidationError(what: "subject", value: subject, reason: reason)) {
            try SubjectValidation.validatePublish(subject)
        }
    }

    /// Subjects given as bytes (a reply subject from the server) follow the same rules.
    @Test func publishSubjectAsBytes() throws {
        try SubjectValidation.validatePublish(ByteBuffer(string: "_INBOX.abc.1"))
        for (subject, reason) in [("", SubjectValidationError.Reason.empty), ("a\rb", .whitespace), ("a\nb", .whitespace), ("a b", .whitespace)] {
            #expect(throws: SubjectValidationError(what: "subject", value: subject, reason: reason)) {
                try SubjectValidation.validatePublish(ByteBuffer(string: subject))
            }
        }
    }

    /// Every byte value, anywhere in a short or long subject: the full check refuses it only
    /// when it is a space, tab, CR or LF (control bytes and non-ASCII bytes pass), and the
    /// publish path's check while encoding sends any byte below 0x21 to the full check; an
    /// empty subject too.
    @Test func everyByteIsRefusedOnlyWhenItIsWhitespace() {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0D, 0x0A]
        #expect(!SubjectValidation.hasOnlyVisibleBytes(UnsafeBufferPointer(start: nil, count: 0)))
        for length in [1, 5, 16, 33] {
            for position in Set([0, length / 2, length - 1]) {
                for value in UInt8.min...UInt8.max {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = value
                    let refused = (try? SubjectValidation.validatePublish(ByteBuffer(bytes: bytes))) == nil
                    #expect(refused == whitespace.contains(value), "byte \(value) at \(position) of \(length)")
                    let visible = bytes.withUnsafeBufferPointer(SubjectValidation.hasOnlyVisibleBytes)
                    #expect(visible == (value >= 0x21), "visible: byte \(value) at \(position) of \(length)")
                }
            }
        }
    }

    @Test(arguments: ["foo", "foo.bar", "foo.*", "foo.>", "*", ">"])
    func validSubscribe(subject: String) throws {
        try SubjectValidation.validateSubscribe(subject)
    }

    @Test(arguments: [
        ("", SubjectValidationError.Reason.empty), ("a b", .whitespace), (".a", .leadingOrTrailingDot),
        ("a.", .leadingOrTrailingDot), ("a..b", .emptyToken), (".", .leadingOrTrailingDot), ("a\t", .whitespace),
    ])
    func invalidSubscribe(subject: String, reason: SubjectValidationError.Reason) {
        #expect(throws: SubjectValidationError(what: "subject", value: subject, reason: reason)) {
            try SubjectValidation.validateSubscribe(subject)
        }
    }

    @Test func queueGroups() throws {
        try SubjectValidation.validateQueueGroup("workers")
        #expect(throws: SubjectValidationError.self) { try SubjectValidation.validateQueueGroup("") }
        #expect(throws: SubjectValidationError.self) { try SubjectValidation.validateQueueGroup("a b") }
    }

    @Test func errorSaysWhatIsWrong() {
        let e = SubjectValidationError(what: "subject", value: "a b", reason: .whitespace)
        #expect(e.description == "invalid subject 'a b': it contains whitespace (space, tab, CR or LF)")
    }
}

@Suite struct ServerErrorTests {
    @Test(arguments: [
        ("'Authorization Violation'", ServerError.Kind.authorizationViolation),
        ("'User Authentication Expired'", .userAuthenticationExpired),
        ("'User Authentication Revoked'", .userAuthenticationRevoked),
        ("'Account Authentication Expired'", .accountAuthenticationExpired),
        ("'Permissions Violation for Publish to \"foo\"'", .permissionsViolation),
        ("'Maximum Payload Violation'", .maxPayloadViolation),
        ("'Stale Connection'", .staleConnection),
        ("'Slow Consumer'", .slowConsumer),
        ("'Unknown Protocol Operation'", .unknownProtocolOperation),
        ("'maximum connections exceeded'", .maxConnectionsExceeded),
        ("'Secure Connection - TLS Required'", .secureConnectionRequired),
        ("'Authentication Timeout'", .authenticationTimeout),
        ("'Something New'", .other),
    ])
    func classification(text: String, kind: ServerError.Kind) {
        #expect(ServerError(text: text).kind == kind)
    }

    @Test func permissionDetails() {
        let p = ServerError(text: "'Permissions Violation for Publish to \"foo.bar\"'")
        #expect(p.permission?.operation == .publish)
        #expect(p.permission?.subject == "foo.bar")
        let s = ServerError(text: "Permissions Violation for Subscription to \"secret.>\" using queue \"q\"")
        #expect(s.permission?.operation == .subscribe)
        #expect(s.permission?.subject == "secret.>\" using queue \"q")
        let s2 = ServerError(text: "Permissions Violation for Subscription to \"secret.>\"")
        #expect(s2.permission?.subject == "secret.>")
        #expect(p.text == "Permissions Violation for Publish to \"foo.bar\"")
    }

    @Test func authErrors() {
        #expect(ServerError(text: "Authorization Violation").isAuthenticationError)
        #expect(!ServerError(text: "Stale Connection").isAuthenticationError)
    }
}
