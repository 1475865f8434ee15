// swift-tools-version: 6.0
import PackageDescription

// construir runs on Linux only: it drives QEMU through libvirt, and uses inotify, prctl and
// Linux's /proc. No other platform is built or tested, so none is claimed.
#if !os(Linux)
#error("construir builds on Linux only")
#endif

let package = Package(
    name: "construir",
    products: [
        .executable(name: "construir", targets: ["construir"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // C libraries: each is imported by exactly one Swift module.
        .systemLibrary(name: "CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),

        // Not "CSystem": apple/swift-system (under swift-nio, under Hummingbird) has a target of that name.
        .target(name: "CConstruir"),
        .target(name: "ConstruirSystem", dependencies: [
            "CConstruir",
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .target(name: "XZ", dependencies: ["CLZMA", "ConstruirSystem"]),
        // The job format (names, manifest, results, queue and done/ records, build images) and
        // the done/ directory (publishing a finished job into it): no libvirt, so the status
        // server, the hub and the image builder can use it without linking it.
        .target(name: "JobModel", dependencies: [
            "ConstruirSystem",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Archive", dependencies: [
            "CArchive", "XZ", "ConstruirSystem", "JobModel",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "VMHost", dependencies: [
            "CLibvirt", "ConstruirSystem",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Runner", dependencies: [
            "ConstruirSystem", "JobModel", "Archive", "XZ", "VMHost",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "Packager", dependencies: [
            "Archive", "XZ", "ConstruirSystem", "JobModel",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // The hub's API description (openapi.yaml, linked as docs/hub-openapi.yaml) and the
        // types generated from it; nothing hand-written (see HubOpenAPI.swift for the flag).
        .target(name: "HubOpenAPI", dependencies: [
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
        ], swiftSettings: [.unsafeFlags(["-suppress-warnings"])],
        plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),
        // What both sides of the hub's API share beyond the generated types: JSON conventions,
        // the routes' paths, names for the documents.
        .target(name: "HubAPI", dependencies: [
            "JobModel", "HubOpenAPI", "ConstruirSystem",
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The hub's state behind one seam: jobs, holds, replicas, runners; SQLite (GRDB) for
        // one hub, PostgreSQL (postgres-nio) for several.
        .target(name: "HubStore", dependencies: [
            "HubAPI", "JobModel", "ConstruirSystem",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The hub volunteers' runners pull jobs from (docs/hub.md). It links neither Runner nor
        // libvirt: what it shares with runners (done/, results, job files) is in JobModel.
        .target(name: "Hub", dependencies: [
            "HubAPI", "HubOpenAPI", "HubStore", "JobModel", "ConstruirSystem", "Archive",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),
        // The pull runner's side: the hub's API over HTTP(S), and the job source it feeds the runner.
        .target(name: "HubClient", dependencies: [
            "HubAPI", "HubOpenAPI", "JobModel", "ConstruirSystem", "Runner",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ], plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),
        .target(name: "ImageBuilder", dependencies: [
            "JobModel", "ConstruirSystem",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),
        // The read-only status page, JSON API and metrics of a queue and its done/, over
        // Hummingbird (as Hub serves the hub's).
        .target(name: "StatusServer", dependencies: [
            "JobModel", "ConstruirSystem",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // `construir watch`: polls git repositories, packages each new commit of a watched ref
        // once into a queue or a hub, and reports the jobs' states to a forge or a command.
        .target(name: "Watch", dependencies: [
            "Packager", "JobModel", "ConstruirSystem", "HubAPI", "HubClient",
            .product(name: "Yams", package: "Yams"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "ConstruirCLI", dependencies: [
            "Runner", "JobModel", "Archive", "VMHost", "ConstruirSystem", "Packager", "ImageBuilder", "StatusServer",
            "Hub", "HubAPI", "HubClient", "HubStore", "Watch",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "construir", dependencies: ["ConstruirCLI"]),

        .target(name: "TestSupport", dependencies: [
            "ConstruirSystem", "JobModel", "StatusServer",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Tests/TestSupport"),
        .testTarget(name: "ConstruirSystemTests", dependencies: ["ConstruirSystem", "TestSupport"]),
        .testTarget(name: "JobModelTests", dependencies: ["JobModel", "ConstruirSystem", "TestSupport"]),
        .testTarget(name: "XZTests", dependencies: ["XZ", "TestSupport"]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "XZ", "TestSupport"]),
        .testTarget(name: "VMHostTests", dependencies: ["VMHost", "TestSupport"]),
        .testTarget(name: "RunnerTests", dependencies: [
            "Runner", "JobModel", "VMHost", "Archive", "XZ", "ConstruirSystem", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "PackagerTests", dependencies: ["Packager", "JobModel", "Archive", "XZ", "TestSupport"]),
        .testTarget(name: "WatchTests", dependencies: [
            "Watch", "JobModel", "ConstruirSystem", "TestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "ImageBuilderTests", dependencies: ["ImageBuilder", "JobModel", "TestSupport"]),
        .testTarget(name: "HubTests", dependencies: [
            "Hub", "HubAPI", "HubOpenAPI", "HubStore", "HubClient", "Archive", "JobModel", "ConstruirSystem", "TestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "StatusServerTests", dependencies: [
            "StatusServer", "JobModel", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "ConstruirCLITests", dependencies: [
            "ConstruirCLI", "Runner", "JobModel", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Runner", "JobModel", "VMHost", "ConstruirCLI", "Packager", "ImageBuilder", "StatusServer", "TestSupport",
            "Hub", "HubAPI", "HubClient", "HubStore", "Archive", "ConstruirSystem",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
