#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The server's `INFO`: what it is, what it supports and how to authenticate.
///
/// Every field is optional on the wire; absent fields take neutral defaults, and unknown
/// fields are ignored, so newer servers never break decoding.
public struct ServerInfo: Sendable, Equatable, Decodable {
    /// The server's unique id.
    public var serverID: String = ""
    /// The server's name.
    public var serverName: String = ""
    /// The server version.
    public var version: String = ""
    /// The Go version the server was built with.
    public var goVersion: String = ""
    /// The host the server listens on.
    public var host: String = ""
    /// The port the server listens on.
    public var port: Int = 0
    /// Whether the server supports headers (`HPUB`/`HMSG`).
    public var headers: Bool = false
    /// The largest payload (headers included) the server accepts, in bytes.
    public var maxPayload: Int = 1_048_576
    /// The protocol level the server speaks.
    public var proto: Int = 0
    /// The id the server gave this connection.
    public var clientID: UInt64? = nil
    /// The client address as the server sees it.
    public var clientIP: String? = nil
    /// Whether the server requires authentication.
    public var authRequired: Bool = false
    /// Whether the server requires TLS.
    public var tlsRequired: Bool = false
    /// Whether the server offers TLS without requiring it.
    public var tlsAvailable: Bool = false
    /// Whether the server requires a client certificate.
    public var tlsVerify: Bool = false
    /// Other servers of the cluster a client may connect to (`host:port`).
    public var connectURLs: [String] = []
    /// Other servers' WebSocket endpoints.
    public var wsConnectURLs: [String] = []
    /// Lame duck mode: the server is about to shut down.
    public var lameDuckMode: Bool = false
    /// The nonce to sign for NKey and JWT authentication.
    public var nonce: String? = nil
    /// The cluster name.
    public var cluster: String? = nil
    /// The JetStream domain.
    public var domain: String? = nil
    /// Whether JetStream is enabled.
    public var jetStream: Bool = false
    /// The server's curve public key, for encrypted auth callouts.
    public var xkey: String? = nil

    /// An empty INFO with defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", serverName = "server_name", version, goVersion = "go", host, port
        case headers, maxPayload = "max_payload", proto, clientID = "client_id", clientIP = "client_ip"
        case authRequired = "auth_required", tlsRequired = "tls_required", tlsAvailable = "tls_available"
        case tlsVerify = "tls_verify", connectURLs = "connect_urls", wsConnectURLs = "ws_connect_urls"
        case lameDuckMode = "ldm", nonce, cluster, domain, jetStream = "jetstream", xkey
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        serverID = try c.decodeIfPresent(String.self, forKey: .serverID) ?? ""
        serverName = try c.decodeIfPresent(String.self, forKey: .serverName) ?? ""
        version = try c.decodeIfPresent(String.self, forKey: .version) ?? ""
        goVersion = try c.decodeIfPresent(String.self, forKey: .goVersion) ?? ""
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? ""
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? 0
        headers = try c.decodeIfPresent(Bool.self, forKey: .headers) ?? false
        maxPayload = try c.decodeIfPresent(Int.self, forKey: .maxPayload) ?? 1_048_576
        proto = try c.decodeIfPresent(Int.self, forKey: .proto) ?? 0
        clientID = try c.decodeIfPresent(UInt64.self, forKey: .clientID)
        clientIP = try c.decodeIfPresent(String.self, forKey: .clientIP)
        authRequired = try c.decodeIfPresent(Bool.self, forKey: .authRequired) ?? false
        tlsRequired = try c.decodeIfPresent(Bool.self, forKey: .tlsRequired) ?? false
        tlsAvailable = try c.decodeIfPresent(Bool.self, forKey: .tlsAvailable) ?? false
        tlsVerify = try c.decodeIfPresent(Bool.self, forKey: .tlsVerify) ?? false
        connectURLs = try c.decodeIfPresent([String].self, forKey: .connectURLs) ?? []
        wsConnectURLs = try c.decodeIfPresent([String].self, forKey: .wsConnectURLs) ?? []
        lameDuckMode = try c.decodeIfPresent(Bool.self, forKey: .lameDuckMode) ?? false
        nonce = try c.decodeIfPresent(String.self, forKey: .nonce)
        cluster = try c.decodeIfPresent(String.self, forKey: .cluster)
        domain = try c.decodeIfPresent(String.self, forKey: .domain)
        jetStream = try c.decodeIfPresent(Bool.self, forKey: .jetStream) ?? false
        xkey = try c.decodeIfPresent(String.self, forKey: .xkey)
        if maxPayload < 0 { maxPayload = 0 }
    }

    /// Decodes the JSON body of an `INFO` line.
    public static func decode(json: some Collection<UInt8>) throws(ProtocolError) -> ServerInfo {
        do {
            return try JSONDecoder().decode(ServerInfo.self, from: Data(json))
        } catch {
            throw ProtocolError(.invalidInfo, detail: "\(error)".prefix(200).description)
        }
    }
}
