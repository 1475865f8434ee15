/// Receives how far packaging is: `completed` of `total` archive entries written.
package protocol PackageProgress: AnyObject {
    func update(completed: Int, total: Int)
    /// Packaging ended (successfully or not).
    func finish()
}
