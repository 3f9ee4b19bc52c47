import Foundation

/// Number and time formatting for the screen (fixed, locale-independent: the goldens depend on it).
package enum Fmt {
    /// A value in at most ~5 characters: 0.823, 12.3, 1234 → 1.23k, 5.1M, 2.0G.
    package static func value(_ v: Double?) -> String {
        guard let v else { return "-" }
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        let a = abs(v)
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, u) in units where a >= scale { return trim(v / scale) + u }
        return trim(v)
    }

    static func trim(_ v: Double) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a < 1e6 && v == v.rounded() { return String(format: "%.0f", v) }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        if a >= 0.01 { return String(format: "%.2f", v) }
        // small values with an SI prefix, so they fit the ~5 cells (2.5m, 40u, 3n); below a nano it is rounding
        // noise of a float computation (1 - 0.9999999999999999): 0
        for (scale, u) in [(1e-3, "m"), (1e-6, "u"), (1e-9, "n")] where a >= scale {
            let x = v / scale
            return (abs(x) >= 100 ? String(format: "%.0f", x) : abs(x) >= 10 ? String(format: "%.1f", x) : String(format: "%.2f", x)) + u
        }
        return "0"
    }

    /// Bytes in binary units: 16.0Gi.
    package static func bytes(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "-" }
        let units = ["", "Ki", "Mi", "Gi", "Ti", "Pi"]
        var x = v, i = 0
        while abs(x) >= 1024 && i < units.count - 1 { x /= 1024; i += 1 }
        return (i == 0 ? String(format: "%.0f", x) : String(format: "%.1f", x)) + units[i]
    }

    package static func percent(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "-" }
        return String(format: "%.0f%%", v * 100)
    }

    /// HH:MM:SS of a Unix time in ms, shifted by `offsetSeconds` (the local zone's offset; 0 in tests).
    package static func clock(_ millis: Int64, offsetSeconds: Int) -> String {
        let s = Int((millis / 1000) + Int64(offsetSeconds))
        let d = ((s % 86400) + 86400) % 86400
        return String(format: "%02d:%02d:%02d", d / 3600, (d / 60) % 60, d % 60)
    }

    /// A duration in ms as 30s, 15m, 2h, 1d.
    package static func span(_ millis: Int64) -> String {
        let s = millis / 1000
        if s % 86400 == 0 && s >= 86400 { return "\(s / 86400)d" }
        if s % 3600 == 0 && s >= 3600 { return "\(s / 3600)h" }
        if s % 60 == 0 && s >= 60 { return "\(s / 60)m" }
        return "\(s)s"
    }

    /// `text` cut to `width` cells, ending in the ellipsis glyph when cut.
    package static func fit(_ text: String, _ width: Int, _ g: Glyphs) -> String {
        guard width > 0 else { return "" }
        if text.count <= width { return text }
        return String(text.prefix(width - 1)) + String(g.ellipsis)
    }

    /// `text` right-aligned in `width` cells.
    package static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.suffix(width)) : String(repeating: " ", count: width - text.count) + text
    }

    /// `text` left-aligned and padded to `width` cells (cut with an ellipsis when longer).
    package static func left(_ text: String, _ width: Int, _ g: Glyphs) -> String {
        let t = fit(text, width, g)
        return t + String(repeating: " ", count: max(0, width - t.count))
    }
}
