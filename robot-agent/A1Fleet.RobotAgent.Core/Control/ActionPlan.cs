namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// The joint targets still to execute, one row per control tick, and the splice that replaces them with a
/// new chunk. Two buffers swap on each splice so that executing and splicing allocate nothing once the
/// buffers are as large as the largest chunk seen.
/// </summary>
internal sealed class ActionPlan
{
    private readonly int _joints;
    private float[] _rows;
    private float[] _incoming;
    private int _length;
    private int _cursor;

    public ActionPlan(int joints, int capacitySteps)
    {
        _joints = joints;
        _rows = new float[joints * Math.Max(1, capacitySteps)];
        _incoming = new float[_rows.Length];
    }

    public int Remaining => _length - _cursor;

    /// <summary>The next row to execute; advances the plan.</summary>
    public ReadOnlySpan<float> Next()
    {
        if (_cursor >= _length)
        {
            throw new InvalidOperationException("the plan is exhausted");
        }

        return _rows.AsSpan(_cursor++ * _joints, _joints);
    }

    public void Clear()
    {
        _length = 0;
        _cursor = 0;
    }

    /// <summary>A buffer for <paramref name="steps"/> rows of the incoming chunk, in joint space.</summary>
    public Span<float> BeginIncoming(int steps)
    {
        var needed = steps * _joints;
        if (_incoming.Length < needed)
        {
            // Only when a chunk is longer than any before; both buffers grow so the swap keeps working.
            _incoming = new float[needed];
            var rows = new float[needed];
            _rows.AsSpan(0, _length * _joints).CopyTo(rows);
            _rows = rows;
        }

        return _incoming.AsSpan(0, needed);
    }

    /// <summary>
    /// Replaces the rest of the plan with the incoming rows. The first <paramref name="blendSteps"/> rows mix
    /// old and new with the new weight rising linearly ((k+1)/(blendSteps+1)), so the motion has no jump at the
    /// splice. Where the old plan has run out, its last row (or <paramref name="lastCommand"/> when the arm is
    /// holding) stands in for it.
    /// </summary>
    public void Commit(int steps, int blendSteps, ReadOnlySpan<float> lastCommand)
    {
        var blend = Math.Min(blendSteps, steps);
        for (var k = 0; k < blend; k++)
        {
            var old = OldRow(k, lastCommand);
            var row = _incoming.AsSpan(k * _joints, _joints);
            var w = (k + 1) / (float)(blendSteps + 1);
            for (var j = 0; j < _joints; j++)
            {
                row[j] = old[j] + (w * (row[j] - old[j]));
            }
        }

        (_rows, _incoming) = (_incoming, _rows);
        _length = steps;
        _cursor = 0;
    }

    private ReadOnlySpan<float> OldRow(int ahead, ReadOnlySpan<float> lastCommand)
    {
        if (_cursor + ahead < _length)
        {
            return _rows.AsSpan((_cursor + ahead) * _joints, _joints);
        }

        return Remaining > 0 ? _rows.AsSpan((_length - 1) * _joints, _joints) : lastCommand;
    }
}
