/// Something that happened to a connection.
public enum NATSEvent: Sendable, CustomStringConvertible {
    /// The first connection is established, to the given server.
    case connected(server: String)
    /// The connection to the server was lost; `error` says why, when known.
    case disconnected(server: String, error: NATSError?)
    /// A reconnect attempt is starting (1 for the first attempt of a reconnect episode).
    case reconnecting(attempt: Int)
    /// Connected again, to the given server; subscriptions were restored.
    case reconnected(server: String)
    /// The connection is closed for good; `reason` is `nil` for ``NATSClient/close()``.
    case closed(reason: NATSError?)
    /// The server is in lame duck mode: it will shut down soon.
    case lameDuckMode(server: String)
    /// A subscription is not keeping up: messages are being dropped. Sent once per episode.
    case slowConsumer(subject: String, sid: UInt64)
    /// The server reported an error on an established connection (e.g. a permissions violation).
    case serverError(NATSError)
    /// The server told us of other servers of its cluster; the pool now has these URLs.
    case discoveredServers([String])

    public var description: String {
        switch self {
        case .connected(let s): return "connected to \(s)"
        case .disconnected(let s, let e): return "disconnected from \(s)" + (e.map { ": \($0)" } ?? "")
        case .reconnecting(let n): return "reconnecting (attempt \(n))"
        case .reconnected(let s): return "reconnected to \(s)"
        case .closed(let e): return "closed" + (e.map { ": \($0)" } ?? "")
        case .lameDuckMode(let s): return "lame duck mode on \(s)"
        case .slowConsumer(let subject, let sid): return "slow consumer on '\(subject)' (sid \(sid))"
        case .serverError(let e): return "server error: \(e)"
        case .discoveredServers(let urls): return "discovered servers: \(urls.joined(separator: ", "))"
        }
    }
}

/// Counters of a connection's traffic.
public struct NATSStatistics: Sendable, Equatable {
    /// Messages received.
    public var inMessages: UInt64 = 0
    /// Payload bytes received (headers included).
    public var inBytes: UInt64 = 0
    /// Messages published.
    public var outMessages: UInt64 = 0
    /// Payload bytes published (headers included).
    public var outBytes: UInt64 = 0
    /// Successful reconnects.
    public var reconnects: UInt64 = 0
    /// Creates zeroed statistics.
    public init() {}
}
