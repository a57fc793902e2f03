import ArgumentParser
import Foundation
import NATSClient
import NIOCore
import Synchronization

// MARK: - Shared helpers

/// Server errors reported on an established connection (permissions), collected from the
/// event handler so a command can fail with them after a flush.
final class ServerErrorCollector: Sendable {
    private let errors = Mutex<[NATSError]>([])
    let printEvents: Bool

    init(printEvents: Bool) { self.printEvents = printEvents }

    var handler: @Sendable (NATSEvent) -> Void {
        { [self] event in
            if case .serverError(let error) = event { errors.withLock { $0.append(error) } }
            if printEvents { standardError("event: \(event)") }
        }
    }

    /// Throws the first collected error, if any.
    func check() throws {
        if let first = errors.withLock({ $0.first }) { throw first }
    }
}

/// The transport of a connected client, as `check` prints it.
func transportName(_ client: NATSClient, urls: [String]) -> String {
    let server = client.connectedServer ?? urls.first ?? ""
    let ws = server.hasPrefix("ws://") || server.hasPrefix("wss://")
    if ws { return client.tlsInfo == nil ? "ws" : "wss" }
    return client.tlsInfo == nil ? "tcp" : "tls"
}

func parseHeaders(_ list: [String]) throws -> NATSHeaders? {
    guard !list.isEmpty else { return nil }
    var headers = NATSHeaders()
    for item in list {
        guard let (k, v) = parseHeader(item) else {
            throw CLIFailure("config", "--header '\(item)' is not of the form 'Name: value'", usage: true)
        }
        headers.append(v, for: k)
    }
    return headers
}

/// Prints a message: a header line, its headers, and its payload.
func printMessage(_ message: NATSMessage, index: Int?) {
    var out = ""
    if let index { out += "[#\(index)] " }
    out += "received on \"\(message.subject)\""
    if let reply = message.replyTo { out += " reply=\"\(reply)\"" }
    out += " (\(message.payload.readableBytes) bytes)\n"
    if let headers = message.headers {
        if let status = headers.status { out += "status: \(status) \(headers.statusDescription ?? "")\n" }
        for entry in headers.entries { out += "\(entry.name): \(entry.value)\n" }
    }
    out += message.string + "\n"
    try? FileHandle.standardOutput.write(contentsOf: Data(out.utf8))
}

// MARK: - check

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect, send one message to yourself through the server, and print the round trip.",
        discussion: "Prints: ok rtt_us=<N> transport=<tcp|tls|ws|wss> tls=<TLSv1.2|TLSv1.3|none> server=<server_name>"
    )

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if connection.noEcho {
            throw ValidationError("check receives its own message, which --no-echo forbids; leave --no-echo out")
        }
    }

    func run() async throws {
        let collector = ServerErrorCollector(printEvents: false)
        let client = try await connection.connect(events: collector.handler)
        try await closing(client) {
            let inbox = client.newInbox()
            let sub = try await client.subscribe(to: inbox)
            try await client.flush(timeout: .seconds(connection.timeout))
            try collector.check()
            let start = ContinuousClock.now
            try await client.publish("check", to: inbox)
            let received = try await withTimeout(connection.timeout, "the message to \(inbox)") {
                var iterator = sub.makeAsyncIterator()
                return try await iterator.next() != nil
            }
            let rtt = ContinuousClock.now - start
            guard received else { throw CLIFailure("connection", "the subscription ended before the message arrived") }
            let tls = client.tlsInfo?.version ?? "none"
            let server = client.serverInfo?.serverName ?? "?"
            print("ok rtt_us=\(rtt.microseconds) transport=\(transportName(client, urls: connection.urls)) tls=\(tls) server=\(server)")
        }
    }
}

// MARK: - pub

struct Pub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish messages.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The subject.") var subject: String
    @Argument(help: "The payload (default: empty, or random bytes with --size).") var payload: String?
    @Option(help: "How many messages.") var count: Int = 1
    @Option(help: "Send messages of this many random bytes instead of PAYLOAD.") var size: Int?
    @Option(help: ArgumentHelp("A header 'K: V'; repeatable.", valueName: "header")) var header: [String] = []

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        if let size, size < 0 { throw ValidationError("--size must not be negative") }
        if size != nil && payload != nil { throw ValidationError("give PAYLOAD or --size, not both") }
    }

    func run() async throws {
        let headers = try parseHeaders(header)
        let collector = ServerErrorCollector(printEvents: false)
        let client = try await connection.connect(events: collector.handler)
        try await closing(client) {
            let body: ByteBuffer
            if let size {
                var bytes = [UInt8](repeating: 0, count: size)
                var rng = SystemRandomNumberGenerator()
                for i in bytes.indices { bytes[i] = rng.next() }
                body = ByteBuffer(bytes: bytes)
            } else {
                body = ByteBuffer(string: payload ?? "")
            }
            for _ in 0..<count {
                try await client.publish(body, to: subject, headers: headers)
            }
            try await client.flush(timeout: .seconds(connection.timeout))
            try collector.check()
            let plural = count == 1 ? "message" : "messages"
            standardError("published \(count) \(plural) of \(body.readableBytes) bytes to \"\(subject)\"")
        }
    }
}

// MARK: - sub

struct Sub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Subscribe and print messages; events go to stderr.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The subject (wildcards allowed).") var subject: String
    @Option(help: "Exit 0 after this many messages.") var count: Int?
    @Option(help: "Queue group.") var queue: String?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let collector = ServerErrorCollector(printEvents: true)
        let client = try await connection.connect(reconnect: true, events: collector.handler)
        try await closing(client) {
            let sub = try await client.subscribe(to: subject, queue: queue)
            try await client.flush(timeout: .seconds(connection.timeout))
            try collector.check()
            standardError("listening on \"\(subject)\"" + (queue.map { " in queue \"\($0)\"" } ?? ""))
            var received = 0
            for try await message in sub {
                received += 1
                printMessage(message, index: received)
                if let count, received >= count { break }
            }
            if let count, received < count {
                throw CLIFailure("connection", "the subscription ended after \(received) of \(count) messages")
            }
        }
    }
}

// MARK: - req

struct Req: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a request and print the reply.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The subject.") var subject: String
    @Argument(help: "The payload.") var payload: String = ""
    @Option(help: ArgumentHelp("A header 'K: V'; repeatable.", valueName: "header")) var header: [String] = []

    func run() async throws {
        let headers = try parseHeaders(header)
        let client = try await connection.connect()
        do {
            let reply = try await client.request(payload, to: subject, headers: headers, timeout: .seconds(connection.timeout))
            printMessage(reply, index: nil)
            await client.close()
        } catch {
            await client.close()
            if error.kind == .noResponders {
                throw CLIFailure("no-responders", "nobody is subscribed to \"\(subject)\" (start a 'nats-swift reply \(subject)')")
            }
            throw error
        }
    }
}

// MARK: - reply

struct Reply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Answer requests on a subject.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The subject.") var subject: String
    @Argument(help: "The response payload.") var response: String?
    @Flag(help: "Answer with the request's own payload.") var echo = false
    @Option(help: "Queue group.") var queue: String?
    @Option(help: "Exit 0 after answering this many requests.") var count: Int?

    func validate() throws {
        if response == nil && !echo { throw ValidationError("give a RESPONSE or --echo") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        let collector = ServerErrorCollector(printEvents: true)
        let client = try await connection.connect(reconnect: true, events: collector.handler)
        try await closing(client) {
            let sub = try await client.subscribe(to: subject, queue: queue)
            try await client.flush(timeout: .seconds(connection.timeout))
            try collector.check()
            standardError("answering on \"\(subject)\"")
            var answered = 0
            let fixed = ByteBuffer(string: response ?? "")
            for try await request in sub where request.hasReply {
                try await client.respond(to: request, with: echo ? request.payload : fixed, headers: echo ? request.headers : nil)
                answered += 1
                printMessage(request, index: answered)
                if let count, answered >= count { break }
            }
            try await client.flush(timeout: .seconds(connection.timeout))
        }
    }
}

// MARK: - info

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the server's INFO, the TLS version, cipher and peer certificate, and the auth method used."
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let client = try await connection.connect()
        guard let info = client.serverInfo else {
            await client.close()
            throw CLIFailure("protocol", "connected but no INFO was received")
        }
        var rows: [(String, String)] = [
            ("server", client.connectedServer ?? "?"),
            ("transport", transportName(client, urls: connection.urls)),
            ("server_name", info.serverName),
            ("server_id", info.serverID),
            ("version", info.version),
            ("go", info.goVersion),
            ("host", "\(info.host):\(info.port)"),
            ("proto", String(info.proto)),
            ("headers", String(info.headers)),
            ("max_payload", String(info.maxPayload)),
            ("auth_required", String(info.authRequired)),
            ("tls_required", String(info.tlsRequired)),
            ("tls_available", String(info.tlsAvailable)),
            ("tls_verify", String(info.tlsVerify)),
            ("jetstream", String(info.jetStream)),
            ("lame_duck_mode", String(info.lameDuckMode)),
        ]
        if let cluster = info.cluster { rows.append(("cluster", cluster)) }
        if let domain = info.domain { rows.append(("domain", domain)) }
        if !info.connectURLs.isEmpty { rows.append(("connect_urls", info.connectURLs.joined(separator: ", "))) }
        if let id = info.clientID { rows.append(("client_id", String(id))) }
        if let ip = info.clientIP { rows.append(("client_ip", ip)) }
        rows.append(("nonce", info.nonce == nil ? "no" : "yes"))
        if let tls = client.tlsInfo {
            rows.append(("tls_version", tls.version))
            rows.append(("tls_cipher", tls.cipher))
            rows.append(("peer_certificate", tls.peerSubject ?? "none"))
        } else {
            rows.append(("tls_version", "none"))
        }
        rows.append(("auth_method", connection.authMethod))
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows {
            print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        await client.close()
    }
}

/// Runs `body`, then closes `client`, also when `body` throws.
func closing<T>(_ client: NATSClient, _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}
