// Integer columns: a sequence of Int64s coded as order-0/1/2 differences, minus a per-column base,
// divided by their common divisor, then Rice-coded with a per-column parameter (with an escape
// for outliers). Used for timestamps and for values that are integers or short decimals.
// docs/chunk-format.md has the layout. All arithmetic wraps modulo 2^64, so any input round-trips.

/// How one column is coded (chosen per chunk by `IntColumn.plan`).
struct IntColumnPlan: Sendable {
    var order = 0           // 0: the values, 1: deltas, 2: delta-of-deltas
    var zigzag = false      // residual = zigzag((r - base) / g), else (r - base) / g as unsigned
    var constant = false    // every residual equals base: no bits
    var packed = false      // every residual in exactly escapeWidth bits (no Rice)
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
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(x.count, 1)) { ubuf in
            plan(x, scratch: scratch, codes: ubuf)
        }
    }

    static func plan(_ x: UnsafeBufferPointer<Int64>, scratch: UnsafeMutableBufferPointer<Int64>,
                     codes ubuf: UnsafeMutableBufferPointer<UInt64>) -> IntColumnPlan {
        let n = x.count
        var best = IntColumnPlan()
        best.bits = Int.max
        if n == 0 {
            best.constant = true
            best.bits = 0
            best.headerBytes = 1
            return best
        }
        // Shortcut: a constant column (equal values, equal deltas or equal delta-of-deltas) costs no
        // bits; take the lowest such order and skip the search.
        var orders = 0...min(2, n)
        if n >= 3 {
            var eq0 = true, eq1 = true, eq2 = true
            let d0 = x[1] &- x[0]
            let dd0 = (x[2] &- x[1]) &- d0
            for i in 1..<n where x[i] != x[0] { eq0 = false; break }
            if !eq0 { for i in 2..<n where x[i] &- x[i - 1] != d0 { eq1 = false; break } }
            if !eq0 && !eq1 { for i in 3..<n where (x[i] &- x[i - 1]) &- (x[i - 1] &- x[i - 2]) != dd0 { eq2 = false; break } }
            if eq0 { orders = 0...0 } else if eq1 { orders = 1...1 } else if eq2 { orders = 2...2 }
        }
        for order in orders {
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
                let base: Int64 = zz ? median(r, scratch: ubuf) : lo
                var g: UInt64 = 0
                for v in r {
                    g = gcd(g, magnitude(v &- base))
                    if g == 1 { break }
                }
                if g == 0 { g = 1 }
                let u = UnsafeMutableBufferPointer(rebasing: ubuf[0..<m])
                for i in 0..<m { u[i] = residual(r[i], base: base, g: g, zigzag: zz) }
                var p = IntColumnPlan()
                p.order = order
                p.zigzag = zz
                p.base = base
                p.divisor = g
                p.firsts = firsts
                p.headerBytes = firstsBytes + Bytes.uvarintSize(Bytes.zigzag(base)) + Bytes.uvarintSize(g) + 2
                let (k, w, bits) = riceCost(UnsafeBufferPointer(u))
                p.k = k
                p.escapeWidth = w
                p.bits = bits
                if p.totalBitsIfAlone < best.totalBitsIfAlone { best = p }
                // Fixed width: best for near-uniform residuals; one header byte less (no k).
                p.packed = true
                p.k = 0
                p.bits = m * w
                p.headerBytes -= 1
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

    /// Best Rice parameter for the residual codes: (k, escape width, bits).
    static func riceCost(_ u: UnsafeBufferPointer<UInt64>) -> (Int, Int, Int) {
        var maxU: UInt64 = 0
        var sum: Double = 0
        for v in u {
            maxU = max(maxU, v)
            sum += Double(v)
        }
        let w = 64 - maxU.leadingZeroBitCount
        let mean = sum / Double(u.count)
        // Rice's optimum is near log2(mean * ln 2); try a neighbourhood around it.
        let guess = mean < 1 ? 0 : Int((mean * 0.6931).log2Floor)
        var bestK = 0
        var bestBits = Int.max
        let kmax = min(w, 56)
        let lo = max(0, min(guess - 1, kmax))
        let hi = min(kmax, max(guess + 2, lo))
        for k in lo...hi {
            var bits = 0
            let kk = UInt64(k)
            for v in u {
                let q = v >> kk
                bits &+= q < UInt64(qmax) ? Int(q) &+ 1 &+ k : qmax &+ w
            }
            if bits < bestBits {
                bestBits = bits
                bestK = k
            }
        }
        return (bestK, w, bestBits)
    }

    /// The element of rank count/2 (quickselect on a copy in `scratch`).
    static func median(_ r: UnsafeMutableBufferPointer<Int64>, scratch: UnsafeMutableBufferPointer<UInt64>) -> Int64 {
        let n = r.count
        let a = scratch
        // Ordered as Int64s, stored as their bit patterns.
        for i in 0..<n { a[i] = UInt64(bitPattern: r[i]) }
        let kth = n / 2
        var lo = 0, hi = n - 1
        while lo < hi {
            let pivot = Int64(bitPattern: a[(lo + hi) / 2])
            var i = lo, j = hi
            while i <= j {
                while Int64(bitPattern: a[i]) < pivot { i += 1 }
                while Int64(bitPattern: a[j]) > pivot { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if kth <= j { hi = j } else if kth >= i { lo = i } else { break }
        }
        return Int64(bitPattern: a[kth])
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
        out.append(UInt8(p.order) | (p.zigzag ? 4 : 0) | (p.constant ? 8 : 0) | (p.packed ? 16 : 0))
        if p.order >= 1 { Bytes.putVarint(&out, p.firsts.0) }
        if p.order == 2 { Bytes.putVarint(&out, p.firsts.1) }
        Bytes.putVarint(&out, p.base)
        if !p.constant {
            Bytes.putUvarint(&out, p.divisor)
            if !p.packed { out.append(UInt8(p.k)) }
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
            if p.packed {
                w.write(u, p.escapeWidth)
                continue
            }
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
        guard mode & 0xE0 == 0, mode & 3 != 3, mode & 0x18 != 0x18 else { throw .corrupt("integer column mode \(mode)") }
        p.order = Int(mode & 3)
        p.zigzag = mode & 4 != 0
        p.constant = mode & 8 != 0
        p.packed = mode & 16 != 0
        if p.order >= 1 { p.firsts.0 = try Bytes.getVarint(b, &pos) }
        if p.order == 2 { p.firsts.1 = try Bytes.getVarint(b, &pos) }
        p.base = try Bytes.getVarint(b, &pos)
        if !p.constant {
            p.divisor = try Bytes.getUvarint(b, &pos)
            p.k = p.packed ? 0 : Int(try Bytes.getByte(b, &pos))
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
        } else if p.packed {
            let ew = p.escapeWidth
            let g = Int64(bitPattern: p.divisor)
            let base = p.base
            let zz = p.zigzag
            var i = p.order
            if ew <= 56 {
                let mask: UInt64 = (1 << UInt64(ew)) &- 1
                while i < n {
                    let u = r.peek() & mask
                    r.bitPos &+= ew
                    let q = zz ? Bytes.unzigzag(u) : Int64(bitPattern: u)
                    out[i] = q &* g &+ base
                    i &+= 1
                }
            } else {
                while i < n {
                    let u = r.readWide(ew)
                    let q = zz ? Bytes.unzigzag(u) : Int64(bitPattern: u)
                    out[i] = q &* g &+ base
                    i &+= 1
                }
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
