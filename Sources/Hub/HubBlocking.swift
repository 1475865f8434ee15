import ConstruirSystem

/// Where the hub's blocking file work runs (`FileWork`): its coordinator and intake take it as a
/// value, so that the rule is stated once.
package struct HubBlocking: Sendable {
    package init() {}

    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await FileWork.run(body)
    }
}
