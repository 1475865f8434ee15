import ConstruirCLI

/// The thin executable: everything lives in ConstruirCLI.
@main
extension Construir {}
