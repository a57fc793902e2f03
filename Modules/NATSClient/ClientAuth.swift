import NATSTransport
import NATSWire

/// Fills CONNECT's auth fields. (Replaced by NATSAuth's resolver.)
enum ClientAuth {
    static func apply(to connect: inout ConnectInfo, info: ServerInfo, url: ServerURL, options: ConnectOptions) async throws(NATSError) {
        if let user = url.user, let password = url.password {
            connect.user = user
            connect.pass = password
        } else if let token = url.token {
            connect.authToken = token
        }
    }
}
