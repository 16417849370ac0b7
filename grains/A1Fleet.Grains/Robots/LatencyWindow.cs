namespace A1Fleet.Grains.Robots;

/// <summary>The last N latencies of one robot, for p50/p99 in its status; fixed memory, no per-request garbage.</summary>
internal sealed class LatencyWindow(int capacity = 512)
{
    private readonly double[] _values = new double[capacity];
    private readonly double[] _scratch = new double[capacity];
    private int _count;
    private int _next;

    public void Add(double value)
    {
        _values[_next] = value;
        _next = (_next + 1) % _values.Length;
        _count = Math.Min(_count + 1, _values.Length);
    }

    public double Percentile(double p)
    {
        if (_count == 0)
        {
            return 0;
        }

        Array.Copy(_values, _scratch, _count);
        Array.Sort(_scratch, 0, _count);
        var index = (int)Math.Ceiling(p * _count) - 1;
        return _scratch[Math.Clamp(index, 0, _count - 1)];
    }
}
