// Mutual TLS: a private CA and a client certificate (`add_client_certificate`).
// Runs against `Tools/demo.sh`'s servers; environment variables override the defaults.
import Foundation
import NATSClient

let env = ProcessInfo.processInfo.environment

let url = env["NATS_URL"] ?? "tls://localhost:4445"
let ca = env["NATS_CA"] ?? "/tmp/nats-swift-demo/ca.pem"
let cert = env["NATS_CERT"] ?? "/tmp/nats-swift-demo/client.pem"
let key = env["NATS_KEY"] ?? "/tmp/nats-swift-demo/client-key.pem"

let client = try await ConnectOptions()
    .addRootCertificates(ca)
    .addClientCertificate(cert, key: key)
    .connect(url)

// Round trip: subscribe to a fresh inbox, publish to it, receive it back.
let inbox = client.newInbox()
let subscription = try await client.subscribe(to: inbox)
let start = ContinuousClock.now
try await client.publish("hello", to: inbox)
for try await _ in subscription { break }
print("ok rtt=\(ContinuousClock.now - start) tls=\(client.tlsInfo?.version ?? "none") server=\(client.serverInfo?.serverName ?? "?")")
await client.close()
