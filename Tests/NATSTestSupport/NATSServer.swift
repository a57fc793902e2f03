import Foundation
import NATSTransport
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real `nats-server` process for integration tests.
///
/// Finds the binary in `$NATS_SERVER`, else `nats-server` on `PATH`. Runs it on 127.0.0.1
/// with free ports, a config file in its own temporary folder, and its output in ``logPath``.
///
/// ```swift
/// try await withNATSServer(config: "authorization { user: a, password: b }") { server in
///     // connect to server.clientURL
/// }
/// let ws = try await NATSServer.start(websocket: true)
/// defer { ws.kill() }
/// ```
///
/// The harness writes `server_name`, `listen`, `http` (monitoring), `pid_file`, the lame-duck
/// timings and, when asked, the `websocket` and `cluster` blocks; the caller's `config`
/// text is appended and may use the placeholders `{PORT}`, `{HTTP_PORT}`, `{WS_PORT}`,
/// `{CLUSTER_PORT}` and `{DIR}` (a `{WS_PORT}` makes the harness allocate a WebSocket port
/// without writing a `websocket` block, so the caller can write their own).
///
/// The process is stopped by ``stop()``, by ``kill()``, or at the latest when the object is
/// deinitialized (SIGKILL).
public final class NATSServer: Sendable {
    // MARK: Options

    /// Everything a test can choose about the server.
    public struct Options: Sendable {
        /// Extra configuration appended after the harness's lines (auth, tls, accounts...).
        public var config: String
        /// TLS on the client port, or `nil` for plaintext.
        public var tls: TLSFiles?
        /// With ``tls``: `handshake_first: true`, the server expects TLS before sending INFO.
        public var tlsHandshakeFirst: Bool
        /// A WebSocket listener, or `nil` for none.
        public var websocket: WebSocket?
        /// `lame_duck_duration`; the server's minimum is 30 s. Clients are closed over this span.
        public var lameDuckDuration: Duration
        /// `lame_duck_grace_period`: how long after entering lame duck mode clients stay untouched.
        public var lameDuckGracePeriod: Duration
        /// Enables JetStream with a store in the server's temporary folder.
        public var jetStream: Bool
        /// `debug: true`.
        public var debug: Bool
        /// `trace: true` (logs every protocol line).
        public var trace: Bool
        /// How long to wait for the server to become ready.
        public var startupTimeout: Duration

        /// Creates options.
        public init(
            config: String = "",
            tls: TLSFiles? = nil,
            tlsHandshakeFirst: Bool = false,
            websocket: WebSocket? = nil,
            lameDuckDuration: Duration = .seconds(30),
            lameDuckGracePeriod: Duration = .seconds(1),
            jetStream: Bool = false,
            debug: Bool = false,
            trace: Bool = false,
            startupTimeout: Duration = .seconds(10)
        ) {
            self.config = config
            self.tls = tls
            self.tlsHandshakeFirst = tlsHandshakeFirst
            self.websocket = websocket
            self.lameDuckDuration = lameDuckDuration
            self.lameDuckGracePeriod = lameDuckGracePeriod
            self.jetStream = jetStream
            self.debug = debug
            self.trace = trace
            self.startupTimeout = startupTimeout
        }

        /// The WebSocket listener's settings.
        public struct WebSocket: Sendable {
            /// Certificate and key file paths for `wss://`; `nil` for plain `ws://` (`no_tls: true`).
            public var tls: TLSFiles?
            /// `compression: true` (permessage-deflate).
            public var compression: Bool
            /// Extra lines inside the `websocket { }` block (for example an `authorization` block).
            public var extra: String

            /// Creates WebSocket settings.
            public init(tls: TLSFiles? = nil, compression: Bool = false, extra: String = "") {
                self.tls = tls
                self.compression = compression
                self.extra = extra
            }

            /// Plain `ws://`.
            public static let plain = WebSocket()
        }

        /// PEM file paths for a TLS block.
        public struct TLSFiles: Sendable {
            /// The server certificate chain.
            public var certFile: String
            /// The server private key.
            public var keyFile: String
            /// CA file to verify client certificates with, if any.
            public var caFile: String?
            /// `verify: true`: require client certificates.
            public var verifyClients: Bool

            /// Creates TLS file settings.
            public init(certFile: String, keyFile: String, caFile: String? = nil, verifyClients: Bool = false) {
                self.certFile = certFile
                self.keyFile = keyFile
                self.caFile = caFile
                self.verifyClients = verifyClients
            }
        }
    }

    /// The ports one server listens on.
    struct Ports: Sendable {
        var client: Int
        var http: Int
        var websocket: Int?
        var cluster: Int?
    }

    /// Cluster membership of one node.
    struct ClusterSpec: Sendable {
        var name: String
        var routePorts: [Int]
    }

    // MARK: State

    private struct State {
        var ports: Ports
        var running: RunningProcess?
        /// Set by `enterLameDuckMode()`: such a server ignores SIGTERM until its grace period ends.
        var inLameDuckMode = false
    }

    private let state: Mutex<State>
    private let options: Options
    private let cluster: ClusterSpec?
    private let binary: String

    /// The server's own temporary folder (config, log, pid file, JetStream store).
    public let directory: String
    /// The generated configuration file.
    public let configPath: String
    /// The file receiving the server's output (all starts and restarts, appended).
    public let logPath: String
    /// The `server_name` the harness gave this server (unless the caller's config sets its own).
    public let serverName: String

    private init(binary: String, options: Options, ports: Ports, cluster: ClusterSpec?, serverName: String) throws {
        self.binary = binary
        self.options = options
        self.cluster = cluster
        self.serverName = serverName
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("nats-harness-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.configPath = directory + "/nats.conf"
        self.logPath = directory + "/nats.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        self.state = Mutex(State(ports: ports, running: nil))
    }

    deinit {
        let running = state.withLock { $0.running }
        if let running {
            _ = posixKill(running.pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Public accessors

    /// The client port.
    public var port: Int { state.withLock { $0.ports.client } }
    /// The monitoring (HTTP) port.
    public var monitoringPort: Int { state.withLock { $0.ports.http } }
    /// The WebSocket port, when one was allocated.
    public var websocketPort: Int? { state.withLock { $0.ports.websocket } }
    /// The cluster (route) port of a cluster node.
    public var clusterPort: Int? { state.withLock { $0.ports.cluster } }
    /// `nats://127.0.0.1:PORT` (also with ``Options/tls``: the client upgrades after INFO).
    public var clientURL: String { "nats://127.0.0.1:\(port)" }
    /// `ws://127.0.0.1:PORT` (or `wss://` with TLS) when a WebSocket listener is configured.
    public var websocketURL: String? {
        guard let websocketPort else { return nil }
        return (options.websocket?.tls == nil ? "ws" : "wss") + "://127.0.0.1:\(websocketPort)"
    }
    /// The client address, for dialing.
    public var address: ServerAddress { ServerAddress(host: "127.0.0.1", port: port) }
    /// The running process's id, or `nil` when stopped.
    public var pid: Int32? { state.withLock { $0.running?.pid } }
    /// Whether the process is running.
    public var isRunning: Bool { state.withLock { $0.running.map { !$0.hasExited } ?? false } }

    /// The server's output so far, for diagnostics.
    public var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// The last `lines` lines of ``log``.
    public func logTail(_ lines: Int = 40) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    // MARK: Starting

    /// Starts a server with extra `config` text and, optionally, a plain WebSocket listener.
    ///
    /// - Throws: ``NATSServerError`` when the binary is missing or the server does not become
    ///   ready in time (its log tail is in the error).
    public static func start(config: String = "", websocket: Bool = false) async throws -> NATSServer {
        try await start(Options(config: config, websocket: websocket ? .plain : nil))
    }

    /// Starts a server with `options`.
    public static func start(_ options: Options) async throws -> NATSServer {
        let binary = try findBinary()
        var lastError: (any Error)?
        for _ in 0..<5 {
            let ports = try allocatePorts(options: options, cluster: false)
            let server = try NATSServer(
                binary: binary, options: options, ports: ports, cluster: nil,
                serverName: "harness-\(UUID().uuidString.prefix(8))"
            )
            do {
                try await server.launch(deadline: .now + options.startupTimeout)
                return server
            } catch let error as NATSServerError where error.isAddressInUse {
                await server.stop()
                lastError = error
            }
        }
        throw lastError ?? NATSServerError("could not start nats-server")
    }

    /// Starts `size` servers joined in one cluster over routes on free ports, and waits until
    /// every node has a route to every other node.
    ///
    /// - Parameter config: Extra configuration for every node.
    public static func startCluster(size: Int = 3, config: String = "") async throws -> NATSCluster {
        try await startCluster(size: size, options: Options(config: config))
    }

    /// Starts a cluster with `options` for every node.
    public static func startCluster(size: Int, options: Options) async throws -> NATSCluster {
        guard size >= 1 else { throw NATSServerError("a cluster needs at least one node, not \(size)") }
        let binary = try findBinary()
        var lastError: (any Error)?
        for _ in 0..<3 {
            let clusterName = "harness-\(UUID().uuidString.prefix(8))"
            var allPorts: [Ports] = []
            for _ in 0..<size {
                allPorts.append(try allocatePorts(options: options, cluster: true))
            }
            let routePorts = allPorts.compactMap(\.cluster)
            var servers: [NATSServer] = []
            do {
                for (index, ports) in allPorts.enumerated() {
                    let server = try NATSServer(
                        binary: binary, options: options, ports: ports,
                        cluster: ClusterSpec(name: clusterName, routePorts: routePorts),
                        serverName: "\(clusterName)-n\(index + 1)"
                    )
                    servers.append(server)
                    try await server.launch(deadline: .now + options.startupTimeout)
                }
                let cluster = NATSCluster(servers: servers)
                try await cluster.waitForFullMesh(timeout: options.startupTimeout)
                return cluster
            } catch let error as NATSServerError where error.isAddressInUse {
                for server in servers { await server.stop() }
                lastError = error
            } catch {
                for server in servers { await server.stop() }
                throw error
            }
        }
        throw lastError ?? NATSServerError("could not start the cluster")
    }

    // MARK: Lifecycle

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within 5 s, and waits
    /// for the exit. A server in lame duck mode gets SIGKILL at once (it would otherwise
    /// finish its grace period first). Idempotent.
    public func stop() async {
        guard let (running, lameDuck) = state.withLock({ state -> (RunningProcess, Bool)? in
            guard let running = state.running else { return nil }
            let lameDuck = state.inLameDuckMode
            state.running = nil
            state.inLameDuckMode = false
            return (running, lameDuck)
        }) else { return }
        _ = posixKill(running.pid, lameDuck ? SIGKILL : SIGTERM)
        if await running.waitForExit(timeout: .seconds(5)) { return }
        _ = posixKill(running.pid, SIGKILL)
        _ = await running.waitForExit(timeout: .seconds(5))
    }

    /// Kills the server with SIGKILL without waiting, for `defer` blocks.
    public func kill() {
        let running = state.withLock { state -> RunningProcess? in
            let running = state.running
            state.running = nil
            state.inLameDuckMode = false
            return running
        }
        if let running {
            _ = posixKill(running.pid, SIGKILL)
        }
    }

    /// Stops the server and starts it again on the same ports, returning once it is ready.
    ///
    /// Retries while the old port is still in use, up to the startup timeout.
    public func restart() async throws {
        await stop()
        let deadline = ContinuousClock.now + options.startupTimeout
        while true {
            do {
                try await launch(deadline: deadline)
                return
            } catch let error as NATSServerError where error.isAddressInUse && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Puts the server in lame duck mode (SIGUSR2, as `nats-server --signal ldm=<pid>` does):
    /// it sends connected clients an INFO with `"ldm":true`, stops accepting, and after the
    /// grace period closes clients over ``Options/lameDuckDuration``.
    public func enterLameDuckMode() throws {
        guard let pid = state.withLock({ state -> Int32? in
            state.inLameDuckMode = state.running != nil
            return state.running?.pid
        }) else { throw NATSServerError("the server is not running") }
        guard posixKill(pid, SIGUSR2) == 0 else {
            throw NATSServerError("could not signal pid \(pid): errno \(errno)")
        }
    }

    /// The body of a monitoring endpoint, such as `"/varz"` or `"/routez"`.
    public func monitor(_ path: String, timeout: Duration = .seconds(5)) async throws -> String {
        try await HTTPGet.body(port: monitoringPort, path: path, timeout: timeout)
    }

    // MARK: Launching

    private func launch(deadline: ContinuousClock.Instant) async throws {
        let ports = state.withLock { $0.ports }
        try configText(ports: ports).write(toFile: configPath, atomically: true, encoding: .utf8)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try logHandle.seekToEnd()
        let logStart = (try? logHandle.offset()) ?? 0

        let running = try RunningProcess.launch(binary: binary, arguments: ["-c", configPath], output: logHandle)
        try? logHandle.close()
        state.withLock { $0.running = running }

        do {
            try await waitUntilReady(running: running, ports: ports, logStart: logStart, deadline: deadline)
        } catch {
            await stop()
            throw error
        }
    }

    private func waitUntilReady(
        running: RunningProcess,
        ports: Ports,
        logStart: UInt64,
        deadline: ContinuousClock.Instant
    ) async throws {
        let dialer = TCPDialer()
        while true {
            if running.hasExited {
                let output = logSince(logStart)
                if output.localizedCaseInsensitiveContains("address already in use") {
                    throw NATSServerError("port in use", addressInUse: true, log: output)
                }
                throw NATSServerError("nats-server exited during startup", log: output)
            }
            guard ContinuousClock.now < deadline else {
                throw NATSServerError("nats-server was not ready in time", log: logSince(logStart))
            }
            if await isReady(dialer: dialer, ports: ports) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Ready when the client (and WebSocket) ports accept and `/varz` names this server.
    private func isReady(dialer: TCPDialer, ports: Ports) async -> Bool {
        for port in [ports.client, ports.websocket].compactMap({ $0 }) {
            guard let stream = try? await dialer.connect(ServerAddress(host: "127.0.0.1", port: port), timeout: .seconds(1))
            else { return false }
            await stream.close()
        }
        guard let varz = try? await HTTPGet.body(port: ports.http, path: "/varz", timeout: .seconds(1)) else {
            return false
        }
        // The name proves /varz comes from our process, not from one that raced us to the port.
        if options.config.contains("server_name") { return true }
        return varz.contains("\"server_name\": \"\(serverName)\"") || varz.contains("\"server_name\":\"\(serverName)\"")
    }

    private func logSince(_ offset: UInt64) -> String {
        guard let handle = FileHandle(forReadingAtPath: logPath) else { return "" }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func configText(ports: Ports) -> String {
        func quoted(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func seconds(_ d: Duration) -> String {
            let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
            return quoted("\(ms)ms")
        }
        var lines = [
            "# Written by the swift-nats test harness.",
            "server_name: \(quoted(serverName))",
            "listen: \"127.0.0.1:\(ports.client)\"",
            "http: \"127.0.0.1:\(ports.http)\"",
            "pid_file: \(quoted(directory + "/nats.pid"))",
            "lame_duck_duration: \(seconds(options.lameDuckDuration))",
            "lame_duck_grace_period: \(seconds(options.lameDuckGracePeriod))",
        ]
        if options.debug { lines.append("debug: true") }
        if options.trace { lines.append("trace: true") }
        if options.jetStream {
            lines.append("jetstream { store_dir: \(quoted(directory + "/jetstream")) }")
        }
        func tlsBlock(_ tls: Options.TLSFiles, handshakeFirst: Bool, indent: String) -> [String] {
            var block = ["tls {"]
            block.append("  cert_file: \(quoted(tls.certFile))")
            block.append("  key_file: \(quoted(tls.keyFile))")
            if let ca = tls.caFile { block.append("  ca_file: \(quoted(ca))") }
            if tls.verifyClients { block.append("  verify: true") }
            if handshakeFirst { block.append("  handshake_first: true") }
            // The server's 2 s default handshake timeout (and the auth timeout derived from
            // it) is about machine speed: a test machine under load can exceed it.
            block.append("  timeout: 10")
            block.append("}")
            return block.map { indent + $0 }
        }
        if let tls = options.tls {
            lines.append(contentsOf: tlsBlock(tls, handshakeFirst: options.tlsHandshakeFirst, indent: ""))
        }
        if let ws = options.websocket, let wsPort = ports.websocket {
            var block = ["websocket {", "  listen: \"127.0.0.1:\(wsPort)\""]
            if let tls = ws.tls {
                block.append(contentsOf: tlsBlock(tls, handshakeFirst: false, indent: "  "))
            } else {
                block.append("  no_tls: true")
            }
            if ws.compression { block.append("  compression: true") }
            if !ws.extra.isEmpty { block.append(ws.extra) }
            block.append("}")
            lines.append(contentsOf: block)
        }
        if let cluster, let clusterPort = ports.cluster {
            let routes = cluster.routePorts.filter { $0 != clusterPort }.map { "nats-route://127.0.0.1:\($0)" }
            lines.append("cluster {")
            lines.append("  name: \(quoted(cluster.name))")
            lines.append("  listen: \"127.0.0.1:\(clusterPort)\"")
            lines.append("  routes: [\(routes.map(quoted).joined(separator: ", "))]")
            lines.append("}")
        }
        var extra = options.config
        for (key, value) in [
            ("{PORT}", String(ports.client)),
            ("{HTTP_PORT}", String(ports.http)),
            ("{WS_PORT}", ports.websocket.map(String.init) ?? "{WS_PORT}"),
            ("{CLUSTER_PORT}", ports.cluster.map(String.init) ?? "{CLUSTER_PORT}"),
            ("{DIR}", directory),
        ] {
            extra = extra.replacingOccurrences(of: key, with: value)
        }
        lines.append(extra)
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Binary and ports

    /// The nats-server binary: `$NATS_SERVER`, else `nats-server` on `PATH`.
    public static func findBinary() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["NATS_SERVER"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw NATSServerError("NATS_SERVER=\(path) is not an executable file")
            }
            return path
        }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = String(directory) + "/nats-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw NATSServerError("nats-server not found: install it or set NATS_SERVER to its path")
    }

    /// Whether a nats-server binary can be found, for `.enabled(if:)` traits.
    public static var isAvailable: Bool {
        (try? findBinary()) != nil
    }

    private static func allocatePorts(options: Options, cluster: Bool) throws -> Ports {
        let wantsWebSocket = options.websocket != nil || options.config.contains("{WS_PORT}")
        let count = 2 + (wantsWebSocket ? 1 : 0) + (cluster ? 1 : 0)
        var ports = try FreePorts.allocate(count)
        let client = ports.removeFirst()
        let http = ports.removeFirst()
        let websocket = wantsWebSocket ? ports.removeFirst() : nil
        let clusterPort = cluster ? ports.removeFirst() : nil
        return Ports(client: client, http: http, websocket: websocket, cluster: clusterPort)
    }
}

/// Several ``NATSServer``s joined in one cluster.
public final class NATSCluster: Sendable {
    /// The nodes, in start order.
    public let servers: [NATSServer]

    init(servers: [NATSServer]) {
        self.servers = servers
    }

    /// Every node's client URL.
    public var clientURLs: [String] { servers.map(\.clientURL) }

    /// Waits until every running node has routes to every other running node.
    public func waitForFullMesh(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await isFullMesh() { return }
            guard ContinuousClock.now < deadline else {
                let logs = servers.map { "--- \($0.serverName)\n\($0.logTail(15))" }.joined(separator: "\n")
                throw NATSServerError("the cluster did not form a full mesh in time", log: logs)
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// Whether every running node sees every other running node over a route.
    public func isFullMesh() async throws -> Bool {
        let running = servers.filter(\.isRunning)
        let names = Set(running.map(\.serverName))
        for server in running {
            guard let body = try? await server.monitor("/routez", timeout: .seconds(1)) else { return false }
            let peers = Self.remoteNames(inRoutez: body)
            if !names.subtracting([server.serverName]).isSubset(of: peers) { return false }
        }
        return true
    }

    static func remoteNames(inRoutez body: String) -> Set<String> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let routes = object["routes"] as? [[String: Any]]
        else { return [] }
        return Set(routes.compactMap { $0["remote_name"] as? String })
    }

    /// Stops every node.
    public func stop() async {
        for server in servers { await server.stop() }
    }
}

/// Starts a server, runs `body`, and always stops the server, also when `body` throws (then
/// the server's log tail goes to standard error).
public func withNATSServer<T>(
    config: String = "",
    websocket: Bool = false,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (NATSServer) async throws -> T
) async throws -> T {
    try await withNATSServer(NATSServer.Options(config: config, websocket: websocket ? .plain : nil), body)
}

/// Starts a server with `options`, runs `body`, and always stops the server.
public func withNATSServer<T>(
    _ options: NATSServer.Options,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (NATSServer) async throws -> T
) async throws -> T {
    let server = try await NATSServer.start(options)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        try? FileHandle.standardError.write(contentsOf: Data("nats-server log after failure (\(server.logPath)):\n\(server.logTail())\n".utf8))
        await server.stop()
        throw error
    }
}

/// Starts a cluster, runs `body`, and always stops every node.
public func withNATSCluster<T>(
    size: Int = 3,
    config: String = "",
    isolation: isolated (any Actor)? = #isolation,
    _ body: (NATSCluster) async throws -> T
) async throws -> T {
    let cluster = try await NATSServer.startCluster(size: size, config: config)
    do {
        let result = try await body(cluster)
        await cluster.stop()
        return result
    } catch {
        await cluster.stop()
        throw error
    }
}

/// A harness failure, with the server's log when it helps.
public struct NATSServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public let message: String
    /// The server output that explains it, if any.
    public let log: String
    let isAddressInUse: Bool

    init(_ message: String, addressInUse: Bool = false, log: String = "") {
        self.message = message
        self.isAddressInUse = addressInUse
        self.log = log
    }

    /// The message, followed by the server log when there is one.
    public var description: String {
        log.isEmpty ? message : "\(message)\n--- server log ---\n\(log)"
    }
}

// MARK: - Process

/// One launched process and whether it has exited (set by Foundation's termination handler).
final class RunningProcess: Sendable {
    let pid: Int32
    private let exited = Mutex(false)
    // Keeps Foundation's Process object (and so its exit monitoring) alive with the child.
    private let process: Mutex<Process?>

    private init(pid: Int32, process: sending Process) {
        self.pid = pid
        self.process = Mutex(process)
    }

    var hasExited: Bool { exited.withLock { $0 } }

    static func launch(binary: String, arguments: [String], output: FileHandle) throws -> RunningProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let flag = ExitFlag()
        process.terminationHandler = { _ in flag.set() }
        try process.run()
        let running = RunningProcess(pid: process.processIdentifier, process: process)
        flag.attach(running)
        return running
    }

    fileprivate func markExited() {
        exited.withLock { $0 = true }
    }

    /// Waits until the process exited, polling the flag; `false` on timeout.
    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !hasExited {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }
}

/// Bridges the termination handler, which may fire before `RunningProcess` exists.
private final class ExitFlag: Sendable {
    private let state = Mutex<(exited: Bool, owner: RunningProcess?)>((false, nil))

    func set() {
        let owner = state.withLock { state -> RunningProcess? in
            state.exited = true
            return state.owner
        }
        owner?.markExited()
    }

    func attach(_ owner: RunningProcess) {
        let exited = state.withLock { state -> Bool in
            state.owner = owner
            return state.exited
        }
        if exited { owner.markExited() }
    }
}

/// `kill(2)`, named apart from ``NATSServer/kill()``.
private func posixKill(_ pid: Int32, _ signal: Int32) -> Int32 {
    kill(pid, signal)
}

// MARK: - Ports

enum FreePorts {
    /// `count` distinct free loopback ports: each bound on port 0, all released together.
    static func allocate(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let (fd, port) = try bindLoopback()
            sockets.append(fd)
            ports.append(port)
        }
        return ports
    }

    /// A TCP socket bound to a free port on 127.0.0.1 (not listening), and that port.
    static func bindLoopback() throws -> (fd: Int32, port: Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw NATSServerError("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw NATSServerError("bind() failed: errno \(code)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(fd, $0, &length)
            }
        }
        guard named == 0 else {
            let code = errno
            close(fd)
            throw NATSServerError("getsockname() failed: errno \(code)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}

// MARK: - HTTP

/// A minimal HTTP/1.0 GET over ``TCPDialer`` for the monitoring endpoints.
enum HTTPGet {
    static func body(port: Int, path: String, timeout: Duration) async throws -> String {
        let stream = try await TCPDialer().connect(ServerAddress(host: "127.0.0.1", port: port), timeout: timeout)
        do {
            let body = try await exchange(stream, path: path, timeout: timeout)
            await stream.close()
            return body
        } catch {
            await stream.close()
            throw error
        }
    }

    private static func exchange(_ stream: TCPStream, path: String, timeout: Duration) async throws -> String {
        try await withDeadline(timeout) {
            try await stream.write(ByteBuffer(string: "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
            var response = ByteBuffer()
            while var chunk = try await stream.read() {
                response.writeBuffer(&chunk)
                if response.readableBytes > 16 << 20 { break }
            }
            let text = String(buffer: response)
            guard text.hasPrefix("HTTP/1.") , text.split(separator: " ", maxSplits: 2).dropFirst().first == "200" else {
                throw NATSServerError("GET \(path) failed: \(text.prefix(200))")
            }
            guard let range = text.range(of: "\r\n\r\n") else { return "" }
            return String(text[range.upperBound...])
        }
    }
}

/// Runs `body`, throwing a ``NATSServerError`` if it takes longer than `timeout`.
func withDeadline<T: Sendable>(
    _ timeout: Duration,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw NATSServerError("timed out after \(timeout)")
        }
        return value
    }
}
