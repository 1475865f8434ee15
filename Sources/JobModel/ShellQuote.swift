import Foundation

/// Quoting for bash, done here rather than by a shell: the one quoting every script construir
/// writes uses (the packager's wrapper, the guest's environment file, image build hooks).
package enum ShellQuote {
    /// `text` as one bash word that expands to exactly `text`: wrapped in single quotes, each
    /// `'` written as `'\''`. Nothing inside single quotes is special to bash (`$`, backquotes,
    /// `\`, `"`, `!` in a script, newlines), so this is equivalent to `printf %q` for any text
    /// without NUL bytes.
    package static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
