/// A PromQL function's signature (Prometheus' `parser.Functions` table).
public struct Function: Sendable, Equatable {
    public let name: String
    public let argTypes: [ValueType]
    /// 0: exactly `argTypes`; n > 0: up to n trailing arguments optional; -1: last repeats without limit.
    public let variadic: Int
    public let returnType: ValueType

    public static let all: [String: Function] = {
        var m: [String: Function] = [:]
        func f(_ n: String, _ a: [ValueType], _ r: ValueType, _ v: Int = 0) {
            m[n] = Function(name: n, argTypes: a, variadic: v, returnType: r)
        }
        for n in ["abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn", "sort", "sort_desc",
                  "absent", "acos", "asin", "atan", "cos", "sin", "tan", "cosh", "sinh", "tanh",
                  "acosh", "asinh", "atanh", "deg", "rad"] {
            f(n, [.vector], .vector)
        }
        for n in ["rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes",
                  "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
                  "last_over_time", "stddev_over_time", "stdvar_over_time", "present_over_time",
                  "absent_over_time"] {
            f(n, [.matrix], .vector)
        }
        f("quantile_over_time", [.scalar, .matrix], .vector)
        f("predict_linear", [.matrix, .scalar], .vector)
        f("clamp", [.vector, .scalar, .scalar], .vector)
        f("clamp_min", [.vector, .scalar], .vector)
        f("clamp_max", [.vector, .scalar], .vector)
        f("round", [.vector, .scalar], .vector, 1)
        f("timestamp", [.vector], .vector)
        f("time", [], .scalar)
        f("pi", [], .scalar)
        f("vector", [.scalar], .vector)
        f("scalar", [.vector], .scalar)
        f("label_replace", [.vector, .string, .string, .string, .string], .vector)
        f("label_join", [.vector, .string, .string, .string], .vector, -1)
        f("histogram_quantile", [.scalar, .vector], .vector)
        for n in ["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"] {
            f(n, [.vector], .vector, 1) // the argument defaults to vector(time())
        }
        return m
    }()
}
