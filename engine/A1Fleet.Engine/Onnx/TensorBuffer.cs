using Microsoft.ML.OnnxRuntime;

namespace A1Fleet.Engine.Onnx;

/// <summary>
/// A pinned, batch-first buffer sized for the largest batch, with one <see cref="OrtValue"/> view per
/// batch size created on first use and kept: graphs read and write these views in place, so steady
/// state allocates nothing. A view over the first b rows is valid because rows are contiguous.
/// </summary>
internal sealed class TensorBuffer<T> : IDisposable where T : unmanaged
{
    private readonly long[] _rowShape;
    private readonly OrtValue?[] _views;

    public TensorBuffer(int maxBatch, params long[] rowShape)
    {
        _rowShape = rowShape;
        RowSize = checked((int)rowShape.Aggregate(1L, (a, b) => a * b));
        Data = GC.AllocateArray<T>(checked(maxBatch * RowSize), pinned: true);
        _views = new OrtValue?[maxBatch + 1];
    }

    public T[] Data { get; }
    public int RowSize { get; }

    public Span<T> Row(int row) => Data.AsSpan(row * RowSize, RowSize);

    public Span<T> Rows(int count) => Data.AsSpan(0, count * RowSize);

    public OrtValue View(int batch)
    {
        var view = _views[batch];
        if (view is null)
        {
            var shape = new long[_rowShape.Length + 1];
            shape[0] = batch;
            _rowShape.CopyTo(shape, 1);
            view = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Data.AsMemory(0, batch * RowSize), shape);
            _views[batch] = view;
        }

        return view;
    }

    public void MoveRow(int from, int to)
    {
        if (from != to)
        {
            Data.AsSpan(from * RowSize, RowSize).CopyTo(Data.AsSpan(to * RowSize, RowSize));
        }
    }

    public void Dispose()
    {
        foreach (var view in _views)
        {
            view?.Dispose();
        }
    }
}
