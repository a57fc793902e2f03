internal import NIOCore

/// A NATS server URL: `nats://`, `tls://`, `ws://` or `wss://`, with optional credentials.
///
/// ```swift
/// let url = try ServerURL("nats://alice:s3cret@demo.nats.io")
/// url.port          // 4222
/// url.password      // "s3cret"
/// "\(url)"          // "nats://alice:<redacted>@demo.nats.io:4222"
/// ```
///
/// - A missing scheme means `nats`; schemes are case-insensitive.
/// - Default ports: 4222 for `nats` and `tls`, 80 for `ws`, 443 for `wss`.
/// - IPv6 literals go in brackets: `nats://[::1]:4222`.
/// - User info is percent-decoded. `user:pass@` gives ``user`` and ``password``; a lone
///   `secret@` is a token (``token``). `@`, `:`, `?` and `#` may appear unencoded in a
///   password, `/` and `,` (in lists) must be written `%2F` and `%2C`.
/// - The path and query are kept for WebSocket URLs only; `nats`/`tls` URLs reject a path.
///
/// `description`, `debugDescription`, reflection and every ``ServerURLError`` show the URL
/// with the password or token replaced by `<redacted>`.
public struct ServerURL: Sendable, Hashable {
    /// The URL scheme, which selects the transport stack.
    public struct Scheme: Sendable, Hashable, CustomStringConvertible {
        private enum Code: Sendable, Hashable {
            case nats, tls, ws, wss
        }

        private let code: Code

        private init(_ code: Code) {
            self.code = code
        }

        /// Plain TCP; TLS is negotiated after INFO when either side requires it.
        public static let nats = Scheme(.nats)
        /// TCP with TLS required.
        public static let tls = Scheme(.tls)
        /// WebSocket over TCP.
        public static let ws = Scheme(.ws)
        /// WebSocket over TLS.
        public static let wss = Scheme(.wss)

        /// Creates a scheme from its name (case-insensitive), or `nil` for an unknown one.
        public init?(name: some StringProtocol) {
            switch name.lowercased() {
            case "nats": self = .nats
            case "tls": self = .tls
            case "ws": self = .ws
            case "wss": self = .wss
            default: return nil
            }
        }

        /// The lowercase scheme name, for example `"nats"`.
        public var name: String {
            switch code {
            case .nats: "nats"
            case .tls: "tls"
            case .ws: "ws"
            case .wss: "wss"
            }
        }

        /// The port used when the URL names none: 4222, 4222, 80 or 443.
        public var defaultPort: Int {
            switch code {
            case .nats, .tls: 4222
            case .ws: 80
            case .wss: 443
            }
        }

        /// Whether this scheme carries NATS inside WebSocket frames.
        public var isWebSocket: Bool {
            code == .ws || code == .wss
        }

        /// Whether this scheme requires TLS from the first byte or the INFO on (`tls`, `wss`).
        public var requiresTLS: Bool {
            code == .tls || code == .wss
        }

        /// The scheme name, same as ``name``.
        public var description: String { name }
    }

    /// The scheme.
    public let scheme: Scheme
    /// The host name or IP literal, without brackets.
    public let host: String
    /// The port, the scheme's default when the URL names none.
    public let port: Int
    /// The percent-decoded user name, or the token when ``password`` is `nil`.
    public let user: String?
    /// The percent-decoded password.
    public let password: String?
    /// For WebSocket URLs, the path and query as written (`"/nats?x=1"`); empty means `/`.
    /// Always empty for `nats` and `tls`.
    public let path: String

    /// The token: the lone user-info part when the URL has no password.
    public var token: String? {
        password == nil ? user : nil
    }

    /// Whether the URL carries a user, password or token.
    public var hasCredentials: Bool {
        user != nil || password != nil
    }

    /// Whether the transport is WebSocket (`ws`, `wss`).
    public var isWebSocket: Bool {
        scheme.isWebSocket
    }

    /// Whether the scheme demands TLS (`tls`, `wss`).
    public var requiresTLS: Bool {
        scheme.requiresTLS
    }

    /// The host and port to dial.
    public var address: ServerAddress {
        ServerAddress(host: host, port: port)
    }

    /// Parses one server URL.
    ///
    /// - Parameters:
    ///   - string: The URL; surrounding whitespace is ignored.
    ///   - defaultScheme: The scheme assumed when `string` has none, `nats` by default (pass
    ///     the current scheme for the `host:port` entries of a server's `connect_urls`).
    /// - Throws: ``ServerURLError`` saying what is wrong; it never quotes the secret.
    public init(_ string: String, defaultScheme: Scheme = .nats) throws(ServerURLError) {
        self = try URLParser.parse(string, defaultScheme: defaultScheme)
    }

    /// Creates a URL from its parts, validating them like the parser does.
    ///
    /// - Throws: ``ServerURLError`` for an invalid host, a port outside 1...65535, or a path
    ///   on a non-WebSocket scheme.
    public init(
        scheme: Scheme = .nats,
        host: String,
        port: Int? = nil,
        user: String? = nil,
        password: String? = nil,
        path: String = ""
    ) throws(ServerURLError) {
        let shown = ServerURL(
            unchecked: scheme, host: host, port: port ?? scheme.defaultPort,
            user: user, password: password, path: path
        ).description
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard URLParser.isValidHost(bareHost) else {
            throw ServerURLError(.invalidHost, url: shown)
        }
        let port = port ?? scheme.defaultPort
        guard (1...65535).contains(port) else {
            throw ServerURLError(.invalidPort, url: shown)
        }
        guard scheme.isWebSocket || path.isEmpty || path == "/" else {
            throw ServerURLError(.invalidPath, url: shown)
        }
        guard URLParser.isValidPath(path) else {
            throw ServerURLError(.invalidPath, url: shown)
        }
        self.init(
            unchecked: scheme, host: bareHost, port: port, user: user, password: password,
            path: scheme.isWebSocket ? path : ""
        )
    }

    fileprivate init(unchecked scheme: Scheme, host: String, port: Int, user: String?, password: String?, path: String) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.path = path
    }

    /// Parses a comma-separated list of server URLs, such as `NATS_URL` or a `--server` flag.
    ///
    /// Whitespace around each entry is ignored, and so are empty entries.
    /// - Throws: ``ServerURLError/empty`` when the list has no URL, or the first entry's error.
    public static func parseList(_ s: String) throws(ServerURLError) -> [ServerURL] {
        var urls: [ServerURL] = []
        for piece in s.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = URLParser.trimmed(piece)
            if trimmed.isEmpty { continue }
            urls.append(try ServerURL(String(trimmed)))
        }
        guard !urls.isEmpty else { throw ServerURLError.empty }
        return urls
    }
}

extension ServerURL: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The URL with an explicit port and the password or token replaced by `<redacted>`.
    public var description: String {
        var text = scheme.name + "://"
        if password != nil {
            text += URLParser.percentEncode(user ?? "") + ":" + URLParser.redacted + "@"
        } else if user != nil {
            text += URLParser.redacted + "@"
        }
        text += address.description
        text += path
        return text
    }

    /// Same as ``description``: secrets are redacted.
    public var debugDescription: String { description }

    /// A mirror without the password or token, so `dump` does not print secrets.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "url": description,
                "hasCredentials": hasCredentials,
            ],
            displayStyle: .struct
        )
    }
}

/// A server URL that could not be parsed.
///
/// Compare with the static members (`error == .invalidPort`): equality looks at the kind of
/// error only, not at the URL it quotes. The quoted ``url`` has any password or token
/// replaced by `<redacted>`.
public struct ServerURLError: Error, Hashable, Sendable, CustomStringConvertible {
    fileprivate enum Code: Hashable, Sendable {
        case empty
        case invalidScheme
        case invalidHost
        case invalidPort
        case invalidUserInfo
        case invalidPath
    }

    private let code: Code
    /// The offending URL with secrets redacted, when there is one.
    public let url: String?

    fileprivate init(_ code: Code, url: String?) {
        self.code = code
        self.url = url
    }

    /// No URL was given (empty string, or a list of only commas and spaces).
    public static let empty = ServerURLError(.empty, url: nil)
    /// The scheme is not one of `nats`, `tls`, `ws`, `wss`.
    public static let invalidScheme = ServerURLError(.invalidScheme, url: nil)
    /// The host is missing, has invalid characters, or is an unbracketed IPv6 literal.
    public static let invalidHost = ServerURLError(.invalidHost, url: nil)
    /// The port is not a number from 1 to 65535.
    public static let invalidPort = ServerURLError(.invalidPort, url: nil)
    /// The user info has a malformed percent-escape or is not UTF-8.
    public static let invalidUserInfo = ServerURLError(.invalidUserInfo, url: nil)
    /// A path on a `nats`/`tls` URL, or a path with spaces or control characters.
    public static let invalidPath = ServerURLError(.invalidPath, url: nil)

    /// Whether both are the same kind of error; the quoted URL is not compared.
    public static func == (lhs: ServerURLError, rhs: ServerURLError) -> Bool {
        lhs.code == rhs.code
    }

    /// Hashes the kind of error, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    /// What is wrong, the redacted URL, and how to fix it.
    public var description: String {
        let quoted = url.map { " '\($0)'" } ?? ""
        switch code {
        case .empty:
            return "no server URL given: pass at least one URL such as nats://127.0.0.1:4222"
        case .invalidScheme:
            return "unsupported scheme in server URL\(quoted): use nats://, tls://, ws:// or wss://"
        case .invalidHost:
            return "invalid host in server URL\(quoted): use a host name, an IPv4 address, or an IPv6 address in brackets like [::1]"
        case .invalidPort:
            return "invalid port in server URL\(quoted): the port must be a number from 1 to 65535"
        case .invalidUserInfo:
            return "invalid user info in server URL\(quoted): percent-escapes must be %XX with hex digits and decode to UTF-8"
        case .invalidPath:
            return "invalid path in server URL\(quoted): only ws:// and wss:// URLs take a path, without spaces or control characters"
        }
    }
}

/// The hand-written parser: no Foundation, strict about hosts and ports, careful with secrets.
enum URLParser {
    static let redacted = "<redacted>"

    static func parse(_ string: String, defaultScheme: ServerURL.Scheme) throws(ServerURLError) -> ServerURL {
        let input = trimmed(string[...])
        guard !input.isEmpty else { throw ServerURLError.empty }

        // Scheme: only when the text before "://" looks like one.
        var schemeText: Substring?
        var rest = input
        if let range = input.firstRange(of: "://") {
            let candidate = input[..<range.lowerBound]
            if candidate.isEmpty || isSchemeLike(candidate) {
                schemeText = candidate
                rest = input[range.upperBound...]
            }
        }

        // Authority: user info ends at the last "@" before the first "/"; host and port end at
        // the first "/", "?" or "#" after it.
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let head = rest[..<slash]
        var userInfo: Substring?
        var hostStart = rest.startIndex
        if let at = head.lastIndex(of: "@") {
            userInfo = head[..<at]
            hostStart = head.index(after: at)
        }
        let region = rest[hostStart..<slash]
        let cut = region.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? slash
        let hostPort = rest[hostStart..<cut]
        var tail = rest[cut...]

        // The text errors may quote: the input with the secret replaced.
        var shown = ""
        if let schemeText {
            shown += schemeText
            shown += "://"
        }
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                shown += userInfo[..<colon]
                shown += ":" + redacted + "@"
            } else {
                shown += redacted + "@"
            }
        }
        shown += hostPort
        shown += tail

        let scheme: ServerURL.Scheme
        if let schemeText {
            guard let named = ServerURL.Scheme(name: schemeText) else {
                throw ServerURLError(.invalidScheme, url: shown)
            }
            scheme = named
        } else {
            scheme = defaultScheme
        }

        var user: String?
        var password: String?
        if let userInfo {
            if let colon = userInfo.firstIndex(of: ":") {
                user = percentDecode(userInfo[..<colon])
                password = percentDecode(userInfo[userInfo.index(after: colon)...])
                guard user != nil, password != nil else { throw ServerURLError(.invalidUserInfo, url: shown) }
            } else if !userInfo.isEmpty {
                user = percentDecode(userInfo)
                guard user != nil else { throw ServerURLError(.invalidUserInfo, url: shown) }
            }
        }

        // Host and port.
        var host: Substring
        var portText: Substring?
        if hostPort.first == "[" {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw ServerURLError(.invalidHost, url: shown)
            }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw ServerURLError(.invalidHost, url: shown) }
                portText = after.dropFirst()
            }
            guard host.contains(":"), isIPLiteral(host) else {
                throw ServerURLError(.invalidHost, url: shown)
            }
        } else {
            if let colon = hostPort.firstIndex(of: ":") {
                host = hostPort[..<colon]
                portText = hostPort[hostPort.index(after: colon)...]
            } else {
                host = hostPort
            }
            guard isValidHost(host) else { throw ServerURLError(.invalidHost, url: shown) }
        }

        var port = scheme.defaultPort
        if let portText {
            guard let parsed = parsePort(portText) else { throw ServerURLError(.invalidPort, url: shown) }
            port = parsed
        }

        // Path: the fragment is never sent; only WebSocket URLs use the rest.
        if let hash = tail.firstIndex(of: "#") {
            tail = tail[..<hash]
        }
        var path = ""
        if scheme.isWebSocket {
            guard isValidPath(tail) else { throw ServerURLError(.invalidPath, url: shown) }
            path = tail.first == "?" ? "/" + tail : String(tail)
        } else {
            guard tail.isEmpty || tail == "/" else { throw ServerURLError(.invalidPath, url: shown) }
        }

        return ServerURL(
            unchecked: scheme, host: String(host), port: port, user: user, password: password, path: path
        )
    }

    static func trimmed(_ s: Substring) -> Substring {
        var s = s
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return s
    }

    private static func isSchemeLike(_ s: Substring) -> Bool {
        guard let first = s.utf8.first, isASCIILetter(first) else { return false }
        return s.utf8.allSatisfy { isASCIILetter($0) || isASCIIDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    /// A host name (letters, digits, `-`, `_`, `.`), a valid IPv4 literal, or an IPv6 literal.
    static func isValidHost(_ host: some StringProtocol) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        if host.contains(":") { return isIPLiteral(host) }
        let allowed = host.utf8.allSatisfy {
            isASCIILetter($0) || isASCIIDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: "_")
        }
        guard allowed else { return false }
        // All digits and dots: must be a real IPv4 address (rejects 999.1.1.1, 1.2.3).
        if host.utf8.allSatisfy({ isASCIIDigit($0) || $0 == UInt8(ascii: ".") }) {
            return isIPLiteral(host)
        }
        return true
    }

    private static func isIPLiteral(_ host: some StringProtocol) -> Bool {
        // Only literal characters: inet_pton stops at a NUL and would accept what precedes it.
        guard host.utf8.allSatisfy({ hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
            return false
        }
        return (try? SocketAddress(ipAddress: String(host), port: 0)) != nil
    }

    /// Printable ASCII without spaces: nothing that could break an HTTP request line.
    static func isValidPath(_ path: some StringProtocol) -> Bool {
        path.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    private static func parsePort(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy(isASCIIDigit), let value = Int(text),
            (1...65535).contains(value)
        else { return nil }
        return value
    }

    static func percentDecode(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            if isASCIILetter(byte) || isASCIIDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
            {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isASCIIDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
