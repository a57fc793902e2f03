// swift-tools-version:6.1
import PackageDescription

// MARK: - Shared settings

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

/// The example programs under Examples/<Name>/, one per transport and per auth method.
let examples = [
    "TCP", "TLS", "TLSFirst", "MutualTLS", "WebSocket", "SecureWebSocket",
    "UserPassword", "Token", "NKey", "JWT", "CredentialsFile", "AuthCallback", "URLCredentials",
]

let package = Package(
    name: "swift-nats",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NATSWire", targets: ["NATSWire"]),
        .library(name: "NATSAuth", targets: ["NATSAuth"]),
        .library(name: "NATSTransport", targets: ["NATSTransport"]),
        .library(name: "NATSTLS", targets: ["NATSTLS"]),
        .library(name: "NATSWebSocket", targets: ["NATSWebSocket"]),
        .library(name: "NATSClient", targets: ["NATSClient"]),
        .executable(name: "nats-swift", targets: ["nats-swift"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // MARK: - System libraries (module map + shim header only)
        .systemLibrary(
            name: "CNATSOpenSSL",
            path: "Modules/CNATSOpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .systemLibrary(
            name: "CNATSSodium",
            path: "Modules/CNATSSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .systemLibrary(
            name: "CNATSZlib",
            path: "Modules/CNATSZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),

        // MARK: - Modules
        .target(
            name: "NATSWire",
            dependencies: [nioCore],
            path: "Modules/NATSWire",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NATSAuth",
            dependencies: ["NATSWire", "CNATSSodium"],
            path: "Modules/NATSAuth",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NATSTransport",
            dependencies: [nioCore, nioPosix],
            path: "Modules/NATSTransport",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NATSTLS",
            dependencies: ["NATSTransport", "CNATSOpenSSL", nioCore],
            path: "Modules/NATSTLS",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NATSWebSocket",
            dependencies: ["NATSTransport", "CNATSZlib", "CNATSOpenSSL", nioCore],
            path: "Modules/NATSWebSocket",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NATSClient",
            dependencies: [
                "NATSWire", "NATSAuth", "NATSTransport", "NATSTLS", "NATSWebSocket",
                nioCore, nioPosix, logging,
            ],
            path: "Modules/NATSClient",
            swiftSettings: swiftSettings
        ),

        // MARK: - Tools
        .executableTarget(
            name: "nats-swift",
            dependencies: ["NATSClient", argumentParser, nioCore],
            path: "Tools/nats-swift",
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests
        .target(
            name: "NATSTestSupport",
            dependencies: ["NATSTransport", "NATSWire", nioCore, nioPosix],
            path: "Tests/NATSTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSWireTests",
            dependencies: ["NATSWire", nioCore],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSAuthTests",
            dependencies: ["NATSAuth", "NATSWire"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSTransportTests",
            dependencies: ["NATSTransport", "NATSTestSupport", nioCore, nioPosix],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSTLSTests",
            dependencies: ["NATSTLS", "NATSTransport", "NATSTestSupport", nioCore],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSWebSocketTests",
            dependencies: ["NATSWebSocket", "NATSTransport", "NATSTestSupport", nioCore],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSClientTests",
            dependencies: ["NATSClient", "NATSWire", "NATSTestSupport", nioCore, nioPosix],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSIntegrationTests",
            dependencies: [
                "NATSClient", "NATSWire", "NATSAuth", "NATSTLS", "NATSWebSocket",
                "NATSTransport", "NATSTestSupport", nioCore, nioPosix, logging,
            ],
            swiftSettings: swiftSettings
        ),
    ] + examples.map { name in
        .executableTarget(
            name: "Example\(name)",
            dependencies: ["NATSClient"],
            path: "Examples/\(name)",
            swiftSettings: swiftSettings
        )
    }
)
