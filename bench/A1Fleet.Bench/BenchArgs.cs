using System.Globalization;

namespace A1Fleet.Bench;

internal sealed record BenchArgs(bool Quick, string Model, int Batch, string OutputDirectory, string ModelsRoot, string? Models, bool LoadOnly = false, bool SimulatedDevice = false)
{
    public static BenchArgs Parse(IEnumerable<string> args)
    {
        var list = args.ToList();
        string? Value(string name)
        {
            var i = list.IndexOf(name);
            return i >= 0 && i + 1 < list.Count ? list[i + 1] : null;
        }

        return new BenchArgs(
            list.Contains("--quick"),
            Value("--model") ?? "small-fm",
            int.Parse(Value("--batch") ?? "8", CultureInfo.InvariantCulture),
            Value("--out") ?? Path.Combine("artifacts", "bench"),
            Value("--models-root") ?? Path.Combine("artifacts", "models"),
            Value("--models"),
            list.Contains("--load-only"),
            string.Equals(Value("--device"), "simulated", StringComparison.OrdinalIgnoreCase));
    }
}
