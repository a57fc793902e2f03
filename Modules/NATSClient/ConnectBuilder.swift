import NATSTransport
import NATSWire

/// Builds the CONNECT for one attempt: identity, options and the auth fields.
enum ConnectBuilder {
    static func build(info: ServerInfo, url: ServerURL, options: ConnectOptions, tlsInUse: Bool) async throws(NATSError) -> ConnectInfo {
        var connect = ConnectInfo()
        connect.name = options.name
        connect.echo = !options.noEcho
        connect.headers = true
        connect.noResponders = true
        connect.tlsRequired = tlsInUse
        try await ClientAuth.apply(to: &connect, info: info, url: url, options: options)
        return connect
    }
}
