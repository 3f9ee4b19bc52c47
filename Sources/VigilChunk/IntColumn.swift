// Integer columns: a sequence of Int64s coded as order-0/1/2 differences, minus a per-column base,
// divided by their common divisor, then Rice-coded with a per-column parameter (with an escape
// for outliers). Used for timestamps and for values that are integers or short decimals.
// docs/chunk-format.md has the layout. All arithmetic wraps modulo 2^64, so any input round-trips.

/// How one column is coded (chosen per chunk by `IntColumn.plan`).
struct IntColumnPlan: Sendable {
    var order = 0           // 0: the values, 1: deltas, 2: delta-of-deltas
    var zigzag = false      // residual = zigzag((r - base) / g), else (r - base) / g as unsigned
    var constant = false    // every residual equals base: no bits
    var base: Int64 = 0
    var divisor: UInt64 = 1
    var k = 0               // Rice parameter
    var escapeWidth = 64    // bits of an escaped residual
    var firsts: (Int64, Int64) = (0, 0)  // x[0] (order >= 1), x[1] - x[0] (order 2)
    var bits = 0            // bits in the stream
    var headerBytes = 0

    var totalBitsIfAlone: Int { headerBytes * 8 + bits }
}

enum IntColumn {
    /// Unary quotients of this many ones (no terminating zero) mean "escaped": the residual follows in
    /// `escapeWidth` bits.
    static let qmax = 24

    // MARK: planning

    /// Picks the cheapest order (0...2), centring (median + zigzag, or minimum) and Rice parameter.
    /// `scratch` must hold at least x.count elements.
    static func plan(_ x: UnsafeBufferPointer<Int64>, scratch: UnsafeMutableBufferPointer<Int64>) -> IntColumnPlan {
        let n = x.count
        var best = IntColumnPlan()
        best.bits = Int.max
        if n == 0 {
            best.constant = true
            best.bits = 0
            best.headerBytes = 1
            return best
        }
        for order in 0...min(2, n) {
            // residuals into scratch[0..<m]
            let m = n - order
            var firsts: (Int64, Int64) = (0, 0)
            if order >= 1 { firsts.0 = x[0] }
            if order == 2 { firsts.1 = x[1] &- x[0] }
            switch order {
            case 0: for i in 0..<m { scratch[i] = x[i] }
            case 1: for i in 0..<m { scratch[i] = x[i + 1] &- x[i] }
            default: for i in 0..<m { scratch[i] = (x[i + 2] &- x[i + 1]) &- (x[i + 1] &- x[i]) }
            }
            let r = UnsafeMutableBufferPointer(rebasing: scratch[0..<m])
            var firstsBytes = 1  // mode byte
            if order >= 1 { firstsBytes += Bytes.uvarintSize(Bytes.zigzag(firsts.0)) }
            if order == 2 { firstsBytes += Bytes.uvarintSize(Bytes.zigzag(firsts.1)) }
            if m == 0 {
                var p = IntColumnPlan()
                p.order = order
                p.constant = true
                p.firsts = firsts
                p.headerBytes = firstsBytes + 1  // base 0
                p.bits = 0
                if p.totalBitsIfAlone < best.totalBitsIfAlone { best = p }
                continue
            }
            // all equal?
            var allEqual = true
            let r0 = r[0]
            var lo = r0
            for v in r where v != r0 {
                allEqual = false
                if v < lo { lo = v }
            }
            if allEqual {
                var p = IntColumnPlan()
                p.order = order
                p.constant = true
                p.base = r0
                p.firsts = firsts
                p.headerBytes = firstsBytes + Bytes.uvarintSize(Bytes.zigzag(r0))
                p.bits = 0
                if p.totalBitsIfAlone < best.totalBitsIfAlone { best = p }
                continue
            }
            for zz in [false, true] {
                let base: Int64 = zz ? median(r) : lo
                var g: UInt64 = 0
                for v in r { g = gcd(g, magnitude(v &- base)) }
                if g == 0 { g = 1 }
                var p = IntColumnPlan()
                p.order = order
                p.zigzag = zz
                p.base = base
                p.divisor = g
                p.firsts = firsts
                p.headerBytes = firstsBytes + Bytes.uvarintSize(Bytes.zigzag(base)) + Bytes.uvarintSize(g) + 2
                let (k, w, bits) = riceCost(r, base: base, g: g, zigzag: zz)
                p.k = k
                p.escapeWidth = w
                p.bits = bits
                if p.totalBitsIfAlone < best.totalBitsIfAlone { best = p }
            }
        }
        return best
    }

    @inline(__always)
    static func residual(_ v: Int64, base: Int64, g: UInt64, zigzag: Bool) -> UInt64 {
        let d = v &- base
        let q: Int64 = g == 1 ? d : (g > UInt64(Int64.max) ? (d == 0 ? 0 : (d == Int64.min ? 1 : 0)) : d / Int64(g))
        return zigzag ? Bytes.zigzag(q) : UInt64(bitPattern: q)
    }

    /// Best Rice parameter for the residuals: (k, escape width, bits).
    static func riceCost(_ r: UnsafeMutableBufferPointer<Int64>, base: Int64, g: UInt64, zigzag: Bool) -> (Int, Int, Int) {
        var maxU: UInt64 = 0
        var sum: Double = 0
        for v in r {
            let u = residual(v, base: base, g: g, zigzag: zigzag)
            if u > maxU { maxU = u }
            sum += Double(u)
        }
        let w = 64 - maxU.leadingZeroBitCount
        let mean = sum / Double(r.count)
        // Rice's optimum is near log2(mean * ln 2); try a neighbourhood around it.
        let guess = mean < 1 ? 0 : Int((mean * 0.6931).log2Floor)
        var bestK = 0
        var bestBits = Int.max
        let kmax = min(w, 56)
        let lo = max(0, min(guess - 2, kmax))
        let hi = min(kmax, max(guess + 2, lo))
        do {
            for k in lo...hi {
                var bits = 0
                for v in r {
                    let q = Int(truncatingIfNeeded: residual(v, base: base, g: g, zigzag: zigzag) >> UInt64(k))
                    bits &+= (q >= 0 && q < qmax) ? q + 1 + k : qmax + w
                }
                if bits < bestBits {
                    bestBits = bits
                    bestK = k
                }
            }
        }
        return (bestK, w, bestBits)
    }

    static func median(_ r: UnsafeMutableBufferPointer<Int64>) -> Int64 {
        var c = Array(r)
        c.sort()
        return c[c.count / 2]
    }

    @inline(__always)
    static func magnitude(_ v: Int64) -> UInt64 { v.magnitude }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var a = a, b = b
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }

    // MARK: writing

    static func writeHeader(_ p: IntColumnPlan, _ out: inout [UInt8]) {
        out.append(UInt8(p.order) | (p.zigzag ? 4 : 0) | (p.constant ? 8 : 0))
        if p.order >= 1 { Bytes.putVarint(&out, p.firsts.0) }
        if p.order == 2 { Bytes.putVarint(&out, p.firsts.1) }
        Bytes.putVarint(&out, p.base)
        if !p.constant {
            Bytes.putUvarint(&out, p.divisor)
            out.append(UInt8(p.k))
            out.append(UInt8(p.escapeWidth))
        }
    }

    static func writeBits(_ x: UnsafeBufferPointer<Int64>, _ p: IntColumnPlan, _ w: inout BitWriter) {
        if p.constant { return }
        let n = x.count
        let mask: UInt64 = (1 << UInt64(p.k)) &- 1
        for i in p.order..<n {
            let r: Int64
            switch p.order {
            case 0: r = x[i]
            case 1: r = x[i] &- x[i - 1]
            default: r = (x[i] &- x[i - 1]) &- (x[i - 1] &- x[i - 2])
            }
            let u = residual(r, base: p.base, g: p.divisor, zigzag: p.zigzag)
            let q = u >> UInt64(p.k)
            if q < UInt64(qmax) {
                w.writeUnary(Int(q))
                w.write(u & mask, p.k)
            } else {
                w.write((1 << UInt64(qmax)) - 1, qmax)
                w.write(u, p.escapeWidth)
            }
        }
    }

    // MARK: reading

    static func readHeader(_ b: UnsafeRawBufferPointer, _ pos: inout Int) throws(ChunkError) -> IntColumnPlan {
        var p = IntColumnPlan()
        let mode = try Bytes.getByte(b, &pos)
        guard mode & 0xF0 == 0, mode & 3 != 3 else { throw .corrupt("integer column mode \(mode)") }
        p.order = Int(mode & 3)
        p.zigzag = mode & 4 != 0
        p.constant = mode & 8 != 0
        if p.order >= 1 { p.firsts.0 = try Bytes.getVarint(b, &pos) }
        if p.order == 2 { p.firsts.1 = try Bytes.getVarint(b, &pos) }
        p.base = try Bytes.getVarint(b, &pos)
        if !p.constant {
            p.divisor = try Bytes.getUvarint(b, &pos)
            p.k = Int(try Bytes.getByte(b, &pos))
            p.escapeWidth = Int(try Bytes.getByte(b, &pos))
            guard p.divisor >= 1 else { throw .corrupt("integer column divisor 0") }
            guard p.k <= 56 else { throw .corrupt("integer column Rice parameter \(p.k)") }
            guard p.escapeWidth >= 1 && p.escapeWidth <= 64 else { throw .corrupt("integer column escape width \(p.escapeWidth)") }
        }
        return p
    }

    /// Decodes n integers into out.
    @inline(__always)
    static func readValues(_ p: IntColumnPlan, n: Int, _ r: inout BitReader, _ out: UnsafeMutablePointer<Int64>) throws(ChunkError) {
        if n == 0 { return }
        guard n >= p.order else { throw .corrupt("integer column of order \(p.order) holds \(n) values") }
        // residuals r[i] for i in order..<n into out[i]
        if p.constant {
            var i = p.order
            while i < n {
                out[i] = p.base
                i &+= 1
            }
        } else {
            let k = p.k
            let kk = UInt64(k)
            let mask: UInt64 = (1 << kk) &- 1
            let g = Int64(bitPattern: p.divisor)
            let base = p.base
            let zz = p.zigzag
            let ew = p.escapeWidth
            var i = p.order
            while i < n {
                let w = r.peek()
                let ones = (~w).trailingZeroBitCount
                var u: UInt64
                if ones < qmax {
                    if ones &+ 1 &+ k <= 57 {
                        u = (UInt64(ones) << kk) | ((w >> UInt64(ones &+ 1)) & mask)
                        r.bitPos &+= ones &+ 1 &+ k
                    } else {
                        r.bitPos &+= ones &+ 1
                        u = (UInt64(ones) << kk) | r.readWide(k)
                    }
                } else {
                    r.bitPos &+= qmax
                    u = r.readWide(ew)
                }
                let q = zz ? Bytes.unzigzag(u) : Int64(bitPattern: u)
                out[i] = q &* g &+ base
                i &+= 1
            }
        }
        // integrate
        switch p.order {
        case 0:
            break
        case 1:
            var x = p.firsts.0
            out[0] = x
            var i = 1
            while i < n {
                x &+= out[i]
                out[i] = x
                i &+= 1
            }
        default:
            var x = p.firsts.0
            out[0] = x
            var d = p.firsts.1
            if n > 1 {
                x &+= d
                out[1] = x
            }
            var i = 2
            while i < n {
                d &+= out[i]
                x &+= d
                out[i] = x
                i &+= 1
            }
        }
    }
}

extension Double {
    /// floor(log2(self)) for self >= 1.
    var log2Floor: Int { Int(exponent) }
}
