import ArgumentParser
import Foundation
import NATSClient

/// The connection options shared by every subcommand that connects.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.customShort("s"), .customLong("server")],
            help: ArgumentHelp("Server URL; repeatable or comma-separated (default $NATS_URL, else nats://127.0.0.1:4222).", valueName: "url"))
    var servers: [String] = []

    @Option(help: ArgumentHelp("User name (with --password).", valueName: "name"))
    var user: String?

    @Option(help: ArgumentHelp("Password (with --user).", valueName: "pw"))
    var password: String?

    @Option(help: ArgumentHelp("Authentication token.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("File holding an NKey user seed (SU...).", valueName: "file"))
    var nkey: String?

    @Option(help: ArgumentHelp("Credentials (.creds) file (default $NATS_CREDS).", valueName: "file"))
    var creds: String?

    @Option(help: ArgumentHelp("File holding a user JWT (with --seed).", valueName: "file"))
    var jwt: String?

    @Option(help: ArgumentHelp("File holding the seed that signs the nonce for --jwt.", valueName: "file"))
    var seed: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("PEM CA file trusted in addition to the system's roots; repeatable.", valueName: "file"))
    var tlsCA: [String] = []

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Client certificate (PEM) for mutual TLS (with --tls-key).", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("Client private key (PEM) for mutual TLS.", valueName: "file"))
    var tlsKey: String?

    @Flag(name: .customLong("tls-first"), help: "TLS handshake before the server's INFO (server option handshake_first).")
    var tlsFirst = false

    @Flag(name: .customLong("tls-required"), help: "Fail unless the connection uses TLS.")
    var tlsRequired = false

    @Option(name: .customLong("tls-server-name"), help: ArgumentHelp("Name to send as SNI and to verify the certificate against.", valueName: "name"))
    var tlsServerName: String?

    @Flag(name: .customLong("ws-compression"), help: "Offer permessage-deflate on ws:// and wss://.")
    var wsCompression = false

    @Option(name: .customLong("ws-header"), help: ArgumentHelp("Extra header for the WebSocket upgrade request, 'K: V'; repeatable.", valueName: "header"))
    var wsHeaders: [String] = []

    @Flag(name: .customLong("no-echo"), help: "Do not receive this connection's own messages.")
    var noEcho = false

    @Option(help: ArgumentHelp("Connection name shown by the server.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Connect and operation timeout in seconds.", valueName: "seconds"))
    var timeout: Double = 5

    mutating func validate() throws {
        if (user == nil) != (password == nil) {
            throw ValidationError("--user and --password go together")
        }
        if (jwt == nil) != (seed == nil) {
            throw ValidationError("--jwt and --seed go together (the seed signs the server's nonce)")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        let methods = [user != nil, token != nil, nkey != nil, creds != nil, jwt != nil].filter { $0 }.count
        if methods > 1 {
            throw ValidationError("choose one of --user/--password, --token, --nkey, --creds, --jwt/--seed")
        }
        guard timeout > 0, timeout.isFinite else {
            throw ValidationError("--timeout must be a positive number of seconds, not \(timeout)")
        }
        for header in wsHeaders where parseHeader(header) == nil {
            throw ValidationError("--ws-header '\(header)' is not of the form 'Name: value'")
        }
    }

    /// The server URLs: the flags, else `$NATS_URL`, else the local default.
    var urls: [String] {
        var list = servers
        if list.isEmpty { list = [ProcessInfo.processInfo.environment["NATS_URL"] ?? "nats://127.0.0.1:4222"] }
        return list.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    /// The credentials file in use: the flag, else `$NATS_CREDS` when no other method is given.
    var credsFile: String? {
        if let creds { return creds }
        guard user == nil, token == nil, nkey == nil, jwt == nil else { return nil }
        return ProcessInfo.processInfo.environment["NATS_CREDS"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Which authentication method these options use, for `info` and the demo.
    var authMethod: String {
        if user != nil { return "user/password" }
        if token != nil { return "token" }
        if nkey != nil { return "nkey" }
        if jwt != nil { return "jwt" }
        if credsFile != nil { return "creds" }
        if let url = urls.first, let userinfo = Self.userinfo(of: url) {
            return userinfo.contains(":") ? "url user/password" : "url token"
        }
        return "none"
    }

    /// The `user[:password]` part of a URL, if any.
    static func userinfo(of url: String) -> Substring? {
        guard let scheme = url.range(of: "://") else { return nil }
        let rest = url[scheme.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        guard let at = authority.lastIndex(of: "@") else { return nil }
        return authority[..<at]
    }

    /// The client options these flags describe.
    func makeOptions(reconnect: Bool, events: (@Sendable (NATSEvent) -> Void)? = nil) throws -> ConnectOptions {
        var options = ConnectOptions()
        options.name = name ?? "nats-swift"
        options.noEcho = noEcho
        options.connectionTimeout = .seconds(timeout)
        options.requestTimeout = .seconds(timeout)
        options.reconnect.enabled = reconnect
        options.eventHandler = events

        if let user, let password {
            options = options.userAndPassword(user, password)
        } else if let token {
            options = options.token(token)
        } else if let nkey {
            let seed = try readSeed(nkey, flag: "--nkey")
            options = options.nkey(seed: seed)
        } else if let jwt, let seed {
            let token = try readFile(jwt, flag: "--jwt").trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                _ = try JWTClaims(jwt: token)
            } catch {
                throw CLIFailure("config", "--jwt \(jwt) does not hold a JWT: \(error.detail)")
            }
            let keyPair = try NKeyPair(seed: readSeed(seed, flag: "--seed"))
            options = options.jwt(token) { nonce in try keyPair.sign(nonce) }
        } else if let file = credsFile {
            try requireReadable(file, flag: "--creds")
            options = try options.credentialsFile(file)
        }

        for ca in tlsCA {
            try requireReadable(ca, flag: "--tls-ca")
            options.tls.configuration.additionalTrustRoots.append(.file(ca))
        }
        if let tlsCert, let tlsKey {
            try requireReadable(tlsCert, flag: "--tls-cert")
            try requireReadable(tlsKey, flag: "--tls-key")
            options.tls.configuration.clientCertificate = .file(tlsCert)
            options.tls.configuration.clientKey = .file(tlsKey)
        }
        options.tls.handshakeFirst = tlsFirst
        options.tls.required = tlsRequired
        options.tls.configuration.serverNameOverride = tlsServerName

        options.webSocket.compression = wsCompression
        for header in wsHeaders {
            if let (k, v) = parseHeader(header) { options.webSocket.extraHeaders.append((k, v)) }
        }
        return options
    }

    /// Connects, adding what was tried to a failure so the user knows what to fix.
    func connect(reconnect: Bool = false, events: (@Sendable (NATSEvent) -> Void)? = nil) async throws -> NATSClient {
        let options = try makeOptions(reconnect: reconnect, events: events)
        let urls = self.urls
        do {
            return try await NATSClient.connect(urls, options: options)
        } catch {
            throw CLIFailure(CLIFailure.kind(of: error), connectHint(error))
        }
    }

    private func connectHint(_ error: NATSError) -> String {
        var message = error.message
        switch error.kind {
        case .timeout:
            message += tlsFirst
                ? " (does the server have handshake_first?)"
                : " (does the server expect TLS first? try --tls-first; or raise --timeout)"
        case .tls:
            switch (error.underlying as? TLSError)?.kind {
            case .hostnameMismatch?:
                message += " (connect by a name the certificate lists, or use --tls-server-name)"
            case .unknownCA? where tlsCA.isEmpty:
                message += " (a private CA needs --tls-ca FILE)"
            case .clientCertificateRequired?, .peerRejectedCertificate?, .transport?, .closed?:
                // With TLS 1.3 a server that requires a client certificate just closes the session.
                if tlsCert == nil { message += " (if the server verifies clients, give --tls-cert FILE --tls-key FILE)" }
            default:
                break
            }
        case .secureConnectionRequired:
            message += " (use tls:// or a server with TLS)"
        default:
            break
        }
        return message
    }
}

/// Splits `Name: value`.
func parseHeader(_ text: String) -> (String, String)? {
    guard let colon = text.firstIndex(of: ":") else { return nil }
    let name = text[..<colon].trimmingCharacters(in: .whitespaces)
    let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    guard !name.isEmpty else { return nil }
    return (name, value)
}

func requireReadable(_ path: String, flag: String) throws {
    guard FileManager.default.isReadableFile(atPath: path) else {
        throw CLIFailure("config", "\(flag) \(path): the file does not exist or cannot be read")
    }
}

func readFile(_ path: String, flag: String) throws -> String {
    try requireReadable(path, flag: flag)
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIFailure("config", "\(flag) \(path): the file cannot be read")
    }
    return String(decoding: data, as: UTF8.self)
}

/// Reads a seed file: the first line that looks like a seed (`S` + type letter), so a file
/// with comments or a `.creds`-style block works too. The seed itself never appears in errors.
func readSeed(_ path: String, flag: String) throws -> String {
    let text = try readFile(path, flag: flag)
    let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    guard let seed = lines.first(where: { $0.count > 50 && $0.hasPrefix("S") && !$0.contains(" ") }) else {
        throw CLIFailure("config", "\(flag) \(path) holds no NKey seed (a line starting with 'S', e.g. 'SU...')")
    }
    do {
        _ = try NKeyPair(seed: seed)
    } catch {
        throw CLIFailure("authentication", "\(flag) \(path): the seed is not valid: \(error)")
    }
    return seed
}
