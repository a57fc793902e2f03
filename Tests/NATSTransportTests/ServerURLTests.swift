import NATSTransport
import Testing

@Suite struct ServerURLTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var scheme: ServerURL.Scheme
        var host: String
        var port: Int
        var path: String = ""
        var testDescription: String { input }
    }

    @Test(arguments: [
        Case(input: "nats://127.0.0.1:4222", scheme: .nats, host: "127.0.0.1", port: 4222),
        Case(input: "nats://demo.nats.io", scheme: .nats, host: "demo.nats.io", port: 4222),
        Case(input: "NATS://Demo.Nats.IO:1234", scheme: .nats, host: "Demo.Nats.IO", port: 1234),
        Case(input: "tls://secure.example.com", scheme: .tls, host: "secure.example.com", port: 4222),
        Case(input: "ws://localhost", scheme: .ws, host: "localhost", port: 80),
        Case(input: "WSS://localhost", scheme: .wss, host: "localhost", port: 443),
        Case(input: "wss://h:8443/nats?x=1", scheme: .wss, host: "h", port: 8443, path: "/nats?x=1"),
        Case(input: "ws://h?x=1", scheme: .ws, host: "h", port: 80, path: "/?x=1"),
        Case(input: "ws://h/p#frag", scheme: .ws, host: "h", port: 80, path: "/p"),
        Case(input: "localhost", scheme: .nats, host: "localhost", port: 4222),
        Case(input: "localhost:5222", scheme: .nats, host: "localhost", port: 5222),
        Case(input: "  nats://h:1  ", scheme: .nats, host: "h", port: 1),
        Case(input: "nats://h:65535/", scheme: .nats, host: "h", port: 65535),
        Case(input: "nats://[::1]:4222", scheme: .nats, host: "::1", port: 4222),
        Case(input: "nats://[::1]", scheme: .nats, host: "::1", port: 4222),
        Case(input: "[fe80::1:2]:7", scheme: .nats, host: "fe80::1:2", port: 7),
        Case(input: "wss://[2001:db8::1]/ws", scheme: .wss, host: "2001:db8::1", port: 443, path: "/ws"),
        Case(input: "nats://my_host-1.local:4222", scheme: .nats, host: "my_host-1.local", port: 4222),
    ])
    func parsesValidURLs(_ c: Case) throws {
        let url = try ServerURL(c.input)
        #expect(url.scheme == c.scheme)
        #expect(url.host == c.host)
        #expect(url.port == c.port)
        #expect(url.path == c.path)
        #expect(url.address == ServerAddress(host: c.host, port: c.port))
        #expect(url.user == nil && url.password == nil && url.token == nil)
        #expect(!url.hasCredentials)
    }

    @Test func schemeProperties() throws {
        #expect(try !ServerURL("nats://h").requiresTLS)
        #expect(try ServerURL("tls://h").requiresTLS)
        #expect(try !ServerURL("ws://h").requiresTLS)
        #expect(try ServerURL("wss://h").requiresTLS)
        #expect(try ServerURL("ws://h").isWebSocket)
        #expect(try ServerURL("wss://h").isWebSocket)
        #expect(try !ServerURL("nats://h").isWebSocket)
        #expect(try !ServerURL("tls://h").isWebSocket)
        #expect(ServerURL.Scheme(name: "TlS") == .tls)
        #expect(ServerURL.Scheme(name: "http") == nil)
    }

    @Test func defaultSchemeForConnectURLs() throws {
        let url = try ServerURL("10.0.0.5:4222", defaultScheme: .tls)
        #expect(url.scheme == .tls)
        #expect(url.host == "10.0.0.5")
    }

    @Test func userAndPassword() throws {
        let url = try ServerURL("nats://alice:s3cret@localhost:4222")
        #expect(url.user == "alice")
        #expect(url.password == "s3cret")
        #expect(url.token == nil)
        #expect(url.hasCredentials)
        #expect(url.host == "localhost")
    }

    @Test func percentDecodedUserInfo() throws {
        let url = try ServerURL("nats://us%40er:p%3Aa%2Fss%20w%C3%B6rd@h")
        #expect(url.user == "us@er")
        #expect(url.password == "p:a/ss wörd")
        #expect(url.description == "nats://us%40er:<redacted>@h:4222")
    }

    @Test func unencodedSpecialCharactersInPassword() throws {
        let url = try ServerURL("nats://bob:p@ss:w?rd#1@h:4000")
        #expect(url.user == "bob")
        #expect(url.password == "p@ss:w?rd#1")
        #expect(url.host == "h")
        #expect(url.port == 4000)
    }

    @Test func emptyUserWithPassword() throws {
        let url = try ServerURL("nats://:pw@h")
        #expect(url.user == "")
        #expect(url.password == "pw")
        #expect(url.token == nil)
    }

    @Test func token() throws {
        let url = try ServerURL("nats://S3cretT0ken@h:4222")
        #expect(url.token == "S3cretT0ken")
        #expect(url.user == "S3cretT0ken")
        #expect(url.password == nil)
        #expect(url.description == "nats://<redacted>@h:4222")
    }

    @Test func emptyUserInfoIsNoCredentials() throws {
        let url = try ServerURL("nats://@h")
        #expect(!url.hasCredentials)
        #expect(url.description == "nats://h:4222")
    }

    @Test func descriptionRedactsSecrets() throws {
        let url = try ServerURL("wss://alice:hunter2@[::1]:8443/nats")
        #expect(url.description == "wss://alice:<redacted>@[::1]:8443/nats")
        #expect(String(reflecting: url) == url.description)
        #expect(!"\(url)".contains("hunter2"))
        var dumped = ""
        dump(url, to: &dumped)
        #expect(!dumped.contains("hunter2"))
        #expect(!String(describing: [url]).contains("hunter2"))
    }

    @Test func descriptionIsNormalized() throws {
        #expect(try ServerURL("NATS://h").description == "nats://h:4222")
        #expect(try ServerURL("h").description == "nats://h:4222")
        #expect(try ServerURL("ws://h").description == "ws://h:80")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var input: String
        var error: ServerURLError
        var testDescription: String { input }
    }

    @Test(arguments: [
        Bad(input: "", error: .empty),
        Bad(input: "   ", error: .empty),
        Bad(input: "http://h", error: .invalidScheme),
        Bad(input: "://h", error: .invalidScheme),
        Bad(input: "nats://h:0", error: .invalidPort),
        Bad(input: "nats://h:65536", error: .invalidPort),
        Bad(input: "nats://h:99999999999999999999", error: .invalidPort),
        Bad(input: "nats://h:", error: .invalidPort),
        Bad(input: "nats://h:-1", error: .invalidPort),
        Bad(input: "nats://h:+80", error: .invalidPort),
        Bad(input: "nats://h:42a", error: .invalidPort),
        Bad(input: "nats://", error: .invalidHost),
        Bad(input: "nats://:4222", error: .invalidHost),
        Bad(input: "nats://::1", error: .invalidHost),
        Bad(input: "nats://[::1", error: .invalidHost),
        Bad(input: "nats://[::1]x", error: .invalidHost),
        Bad(input: "nats://[nothex::zz]:1", error: .invalidHost),
        Bad(input: "nats://[1.2.3.4]:1", error: .invalidHost),
        // Found by the url fuzz target: text after a NUL was ignored by the IP check.
        Bad(input: "nats://[::1\u{0}evil]:4222", error: .invalidHost),
        Bad(input: "nats://[::\u{0}\u{0}\u{FFFD}]:3", error: .invalidHost),
        Bad(input: "nats://[fe80::1%eth0]", error: .invalidHost),
        Bad(input: "nats://999.1.1.1", error: .invalidHost),
        Bad(input: "nats://ho st", error: .invalidHost),
        Bad(input: "nats://hö.st", error: .invalidHost),
        Bad(input: "nats://u:p%zz@h", error: .invalidUserInfo),
        Bad(input: "nats://u:p%4@h", error: .invalidUserInfo),
        Bad(input: "nats://%FF@h", error: .invalidUserInfo),
        Bad(input: "nats://h/path", error: .invalidPath),
        Bad(input: "tls://h?x=1", error: .invalidPath),
        Bad(input: "ws://h/a\r\nHost: evil", error: .invalidPath),
        Bad(input: "ws://h/a b", error: .invalidPath),
    ])
    func rejectsInvalidURLs(_ bad: Bad) {
        #expect(throws: bad.error) { try ServerURL(bad.input) }
    }

    /// Found by the url fuzz target: an IPv6 host with a NUL and garbage after it passed
    /// the IP literal check, which only saw the text before the NUL.
    @Test func hostWithNULRejectedByMemberwiseInit() {
        #expect(throws: ServerURLError.invalidHost) { try ServerURL(host: "::1\u{0}evil") }
        #expect(throws: ServerURLError.invalidHost) { try ServerURL(host: "[::1\u{0}]") }
        #expect(throws: ServerURLError.invalidHost) { try ServerURL(host: "1.2.3.4\u{0}") }
    }

    @Test func errorsNeverShowTheSecret() {
        let inputs = [
            "http://alice:hunter2@h",
            "nats://alice:hunter2@h:0",
            "nats://alice:hunter2@:4222",
            "nats://alice:hunter2%zz@h",
            "nats://hunter2@h:99999",
            "tls://hunter2@h/path",
            "nats://alice:hunter2@[::1",
        ]
        for input in inputs {
            do {
                _ = try ServerURL(input)
                Issue.record("expected \(input) to fail")
            } catch {
                #expect(!error.description.contains("hunter2"), "\(error)")
                #expect(error.description.contains("<redacted>"), "\(error)")
                #expect(!(error.url ?? "").contains("hunter2"))
            }
        }
    }

    @Test func errorDescriptionQuotesRedactedURL() {
        do {
            _ = try ServerURL("nats://alice:hunter2@h:0")
            Issue.record("expected failure")
        } catch {
            #expect(error.url == "nats://alice:<redacted>@h:0")
            #expect(error.description.contains("1 to 65535"))
        }
    }

    @Test func parsesLists() throws {
        let urls = try ServerURL.parseList(" nats://a:1 ,tls://b, ws://[::1]:8080/x,, c ")
        #expect(urls.map(\.description) == ["nats://a:1", "tls://b:4222", "ws://[::1]:8080/x", "nats://c:4222"])
    }

    @Test func listErrors() {
        #expect(throws: ServerURLError.empty) { try ServerURL.parseList("") }
        #expect(throws: ServerURLError.empty) { try ServerURL.parseList(" , ,") }
        #expect(throws: ServerURLError.invalidPort) { try ServerURL.parseList("nats://a:1, nats://b:0") }
    }

    @Test func memberwiseInitValidates() throws {
        let url = try ServerURL(scheme: .wss, host: "[::1]", user: "u", password: "p", path: "/ws")
        #expect(url.host == "::1")
        #expect(url.port == 443)
        #expect(url.description == "wss://u:<redacted>@[::1]:443/ws")
        #expect(throws: ServerURLError.invalidPort) { try ServerURL(host: "h", port: 0) }
        #expect(throws: ServerURLError.invalidHost) { try ServerURL(host: "") }
        #expect(throws: ServerURLError.invalidPath) { try ServerURL(scheme: .nats, host: "h", path: "/x") }
    }
}
