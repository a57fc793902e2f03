/// A failure to connect to a server or to move bytes over a connection.
///
/// Compare with the static members (`error == .connectionRefused`); `hostNotFound` and
/// `io` carry the host name or the underlying error's description.
public struct TransportError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case connectionRefused
        case timeout
        case hostNotFound(String)
        case closed
        case io(String)
    }

    private let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// The server's host actively refused the connection: nothing listens on that port.
    public static let connectionRefused = TransportError(.connectionRefused)
    /// Connecting took longer than the allowed time.
    public static let timeout = TransportError(.timeout)
    /// The stream was closed, locally or by the peer, before or during the operation.
    public static let closed = TransportError(.closed)

    /// The host name could not be resolved to any address.
    public static func hostNotFound(_ host: String) -> TransportError {
        TransportError(.hostNotFound(host))
    }

    /// Any other I/O failure, with the underlying error's description.
    public static func io(_ underlying: String) -> TransportError {
        TransportError(.io(underlying))
    }

    /// What failed and what to check; never contains credentials.
    public var description: String {
        switch code {
        case .connectionRefused:
            "connection refused: no server is listening at that address; check the host and port"
        case .timeout:
            "connect timed out: the server did not answer in time; check the address, firewall, or raise the timeout"
        case .hostNotFound(let host):
            "host not found: '\(host)' could not be resolved; check the host name and DNS"
        case .closed:
            "connection closed"
        case .io(let underlying):
            "I/O error: \(underlying)"
        }
    }
}
