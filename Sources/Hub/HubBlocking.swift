import ConstruirSystem

/// Where the hub's blocking file work runs (`FileWork`): its coordinator and intake take it as a
/// value, so that the rule is stated once.
public struct HubBlocking: Sendable {
    public init() {}

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await FileWork.run(body)
    }
}
