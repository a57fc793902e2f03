public import Logging
public import NATSAuth
public import NATSTransport
public import NATSWebSocket
import NATSWire

/// How to connect: identity, timeouts, keepalive, reconnection, limits, logging and events.
///
/// A value type with defaults. Every option has a chained form that returns a modified copy,
/// the spec's style:
///
/// ```swift
/// let client = try await ConnectOptions()
///     .name("orders")
///     .noEcho()
///     .connect("nats://127.0.0.1:4222")
/// ```
public struct ConnectOptions: Sendable {
    /// The connection name shown by the server's monitoring.
    public var name: String? = nil
    /// Do not deliver this connection's own messages back to its subscriptions.
    public var noEcho: Bool = false
    /// Skip the client-side check of publish subjects (subscribe subjects are always checked).
    public var skipSubjectValidation: Bool = false
    /// How often to PING when no traffic arrives.
    public var pingInterval: Duration = .seconds(120)
    /// Unanswered PINGs after which the connection counts as stale and is dropped.
    public var maxPingsOutstanding: Int = 2
    /// Bound on the whole handshake: dial, TLS, INFO, CONNECT and the PONG answering it.
    public var connectionTimeout: Duration = .seconds(5)
    /// Default timeout of ``NATSClient/request(_:to:headers:timeout:)``.
    public var requestTimeout: Duration = .seconds(10)
    /// Prefix of the inbox subjects used for replies.
    public var inboxPrefix: String = "_INBOX"
    /// Per-subscription limit of buffered messages; beyond it messages are dropped (slow consumer).
    public var subscriptionPendingMessages: Int = 512 * 1024
    /// Per-subscription limit of buffered payload bytes.
    public var subscriptionPendingBytes: Int = 64 * 1024 * 1024
    /// Reconnection behaviour.
    public var reconnect: Reconnect = Reconnect()
    /// Authentication: an `Auth` value, a credentials file or string, or a callback.
    public var auth: AuthOptions = AuthOptions()
    /// The WebSocket handshake and framing for `ws://` and `wss://` URLs: extra headers, a
    /// proxy path (used when the URL has none), compression, size limits.
    public var webSocket: WebSocketConfiguration = WebSocketConfiguration()
    /// TLS at the NATS level.
    public var tls: TLSOptions = TLSOptions()
    /// Opens the byte streams; replace to use a proxy or an in-memory transport.
    public var dialer: any Dialer = TCPDialer()
    /// Where the client logs (info level at most). Never receives a credential.
    public var logger: Logger = Logger(label: "nats", factory: { _ in SwiftLogNoOpLogHandler() })
    /// Called for every event, in order, from the connection's own task; keep it short.
    public var eventHandler: (@Sendable (NATSEvent) -> Void)? = nil

    /// Reconnection behaviour after a connection is lost.
    public struct Reconnect: Sendable {
        /// Whether to reconnect at all.
        public var enabled: Bool = true
        /// Attempts per server before it leaves the pool (negative: unlimited).
        public var maxAttemptsPerServer: Int = 60
        /// The wait between attempts on the same server.
        public var wait: Duration = .seconds(2)
        /// Random extra wait added to ``wait`` (plain TCP and WebSocket).
        public var jitter: Duration = .milliseconds(100)
        /// Random extra wait added to ``wait`` when TLS is in use.
        public var jitterTLS: Duration = .seconds(1)
        /// A custom delay: given the attempt number (1-based) of a full pass, the wait.
        public var delay: (@Sendable (Int) -> Duration)? = nil
        /// Bytes of publishes buffered while disconnected; past it, publish fails.
        public var bufferSize: Int = 8 * 1024 * 1024
        /// Keep trying when the very first connect fails, instead of failing at once.
        public var retryOnFailedConnect: Bool = false
        /// Try servers in the given order instead of shuffling them.
        public var retainServersOrder: Bool = false
        /// Do not add servers announced by the cluster to the pool.
        public var ignoreDiscoveredServers: Bool = false
        /// Keep reconnecting to a server that rejected the credentials twice in a row.
        public var ignoreAuthErrorAbort: Bool = false
        /// When a server announces lame duck mode, move to another server of the pool
        /// (subscribing there first) before the server closes the connection.
        public var migrateOnLameDuck: Bool = false
        /// The move happens at a random moment within this window, so that the clients of a
        /// server do not all move at once; keep it below the server's `lame_duck_grace_period`.
        public var lameDuckMigrationWindow: Duration = .seconds(5)
        /// Default reconnection behaviour.
        public init() {}
    }

    /// Options with defaults.
    public init() {}

    // MARK: - Chained style

    /// A copy with the connection name set.
    public func name(_ name: String) -> ConnectOptions { with { $0.name = name } }
    /// A copy that does not receive its own messages.
    public func noEcho(_ enabled: Bool = true) -> ConnectOptions { with { $0.noEcho = enabled } }
    /// A copy that skips publish subject validation.
    public func skipSubjectValidation(_ skip: Bool = true) -> ConnectOptions { with { $0.skipSubjectValidation = skip } }
    /// A copy with the keepalive interval set.
    public func pingInterval(_ interval: Duration) -> ConnectOptions { with { $0.pingInterval = interval } }
    /// A copy with the handshake timeout set.
    public func connectionTimeout(_ timeout: Duration) -> ConnectOptions { with { $0.connectionTimeout = timeout } }
    /// A copy with the default request timeout set.
    public func requestTimeout(_ timeout: Duration) -> ConnectOptions { with { $0.requestTimeout = timeout } }
    /// A copy with a custom inbox prefix.
    public func inboxPrefix(_ prefix: String) -> ConnectOptions { with { $0.inboxPrefix = prefix } }
    /// A copy with an event handler.
    public func eventHandler(_ handler: @escaping @Sendable (NATSEvent) -> Void) -> ConnectOptions { with { $0.eventHandler = handler } }
    /// A copy with a logger.
    public func logger(_ logger: Logger) -> ConnectOptions { with { $0.logger = logger } }
    /// A copy that does not reconnect.
    public func noReconnect() -> ConnectOptions { with { $0.reconnect.enabled = false } }
    /// A copy that requires TLS.
    public func requireTLS(_ required: Bool = true) -> ConnectOptions { with { $0.tls.required = required } }
    /// A copy that does the TLS handshake before reading INFO; implies ``requireTLS(_:)``.
    public func tlsFirst() -> ConnectOptions { with { $0.tls.handshakeFirst = true } }
    /// A copy with a custom dialer.
    public func dialer(_ dialer: any Dialer) -> ConnectOptions { with { $0.dialer = dialer } }

    /// Returns a copy changed by `body`.
    public func with(_ body: (inout ConnectOptions) -> Void) -> ConnectOptions {
        var copy = self
        body(&copy)
        return copy
    }

    /// Connects to `url` (one URL or a comma-separated list) with these options.
    public func connect(_ url: String) async throws(NATSError) -> NATSClient {
        try await NATSClient.connect(url, options: self)
    }

    /// Connects to any of `urls` with these options.
    public func connect(_ urls: [String]) async throws(NATSError) -> NATSClient {
        try await NATSClient.connect(urls, options: self)
    }

    func validate() throws(NATSError) {
        do {
            try SubjectValidation.validateSubscribe(inboxPrefix)
        } catch {
            throw NATSError(.config, "inboxPrefix: \(error)")
        }
        if inboxPrefix.contains("*") || inboxPrefix.contains(">") {
            throw NATSError(.config, "inboxPrefix '\(inboxPrefix)' must not contain wildcards")
        }
        if maxPingsOutstanding < 1 { throw NATSError(.config, "maxPingsOutstanding must be at least 1") }
        if subscriptionPendingMessages < 1 || subscriptionPendingBytes < 1 {
            throw NATSError(.config, "subscription pending limits must be positive")
        }
    }
}
