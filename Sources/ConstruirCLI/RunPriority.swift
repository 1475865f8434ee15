import ArgumentParser

/// `run --priority`: whether the runner yields the machine to its owner's programs.
enum RunPriority: String, ExpressibleByArgument, CaseIterable {
    case idle, normal
}
