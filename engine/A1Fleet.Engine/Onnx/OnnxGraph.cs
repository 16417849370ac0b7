using A1Fleet.ModelFormat;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace A1Fleet.Engine.Onnx;

/// <summary>Expected shape of one graph input or output; -1 marks the symbolic batch dim.</summary>
internal readonly record struct TensorSignature(string Name, TensorElementType Type, long[] Dims);

/// <summary>
/// One ONNX graph of a package with its IO bindings cached per (batch size, buffer variant): a bound
/// run hands ONNX Runtime the same pinned memory every time and allocates no managed objects.
/// <para>On a device other than the CPU, ONNX Runtime copies a host input to the device when it is bound, not when
/// the graph runs, so a cached binding would feed every later run the values the buffer held at binding time. There
/// (<paramref name="inputsCopiedAtBind"/>) the inputs are bound again before each run, which makes the copy then;
/// outputs bound to host memory are copied back after each run either way.</para>
/// </summary>
internal sealed class OnnxGraph : IDisposable
{
    private readonly Dictionary<int, OrtIoBinding> _bindings = [];
    private readonly Dictionary<OrtIoBinding, (string Name, OrtValue Value)[]> _inputs = [];
    private readonly bool _inputsCopiedAtBind;

    public OnnxGraph(string path, SessionOptions options, bool inputsCopiedAtBind = false)
    {
        _inputsCopiedAtBind = inputsCopiedAtBind;
        FilePath = path;
        try
        {
            Session = new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelPackageException($"'{path}' could not be loaded by ONNX Runtime: {ex.Message}", ex);
        }
    }

    public string FilePath { get; }
    public InferenceSession Session { get; }

    /// <summary>Checks names, element types and dims against the manifest; the error names file and mismatch.</summary>
    public void Expect(IReadOnlyList<TensorSignature> inputs, IReadOnlyList<TensorSignature> outputs)
    {
        var errors = new List<string>();
        Compare("input", Session.InputMetadata, inputs, errors, exact: true);
        Compare("output", Session.OutputMetadata, outputs, errors, exact: false);
        if (errors.Count > 0)
        {
            throw new ModelPackageException($"'{FilePath}' does not match model.json:\n  - " + string.Join("\n  - ", errors));
        }
    }

    private static void Compare(string kind, IReadOnlyDictionary<string, NodeMetadata> actual, IReadOnlyList<TensorSignature> expected, List<string> errors, bool exact)
    {
        foreach (var sig in expected)
        {
            if (!actual.TryGetValue(sig.Name, out var meta))
            {
                errors.Add($"{kind} '{sig.Name}' is missing (graph has: {string.Join(", ", actual.Keys)})");
                continue;
            }

            if (!meta.IsTensor || meta.ElementDataType != sig.Type)
            {
                errors.Add($"{kind} '{sig.Name}' has element type {meta.ElementDataType}, expected {sig.Type}");
                continue;
            }

            var dims = meta.Dimensions;
            var ok = dims.Length == sig.Dims.Length;
            for (var i = 0; ok && i < dims.Length; i++)
            {
                ok = sig.Dims[i] < 0 ? dims[i] <= 0 : dims[i] == sig.Dims[i];
            }

            if (!ok)
            {
                errors.Add($"{kind} '{sig.Name}' has shape [{Format(dims.Select(d => (long)d))}], expected [{Format(sig.Dims)}] (-1 = batch)");
            }
        }

        if (exact)
        {
            foreach (var name in actual.Keys.Where(k => expected.All(e => e.Name != k)))
            {
                errors.Add($"{kind} '{name}' is not part of the format");
            }
        }
    }

    private static string Format(IEnumerable<long> dims) => string.Join(", ", dims.Select(d => d < 0 ? "batch" : d.ToString()));

    /// <summary>Returns the cached binding for <paramref name="key"/>, or null when the caller must bind it.</summary>
    public OrtIoBinding? CachedBinding(int key) => _bindings.GetValueOrDefault(key);

    public OrtIoBinding Bind(int key, ReadOnlySpan<(string Name, OrtValue Value)> inputs, ReadOnlySpan<(string Name, OrtValue Value)> outputs)
    {
        var binding = Session.CreateIoBinding();
        foreach (var (name, value) in inputs)
        {
            binding.BindInput(name, value);
        }

        foreach (var (name, value) in outputs)
        {
            binding.BindOutput(name, value);
        }

        _bindings[key] = binding;
        if (_inputsCopiedAtBind)
        {
            _inputs[binding] = inputs.ToArray();
        }

        return binding;
    }

    /// <summary>Disposes and drops the cached bindings whose key <paramref name="matches"/> (their buffers are going away).</summary>
    public void ForgetBindings(Func<int, bool> matches)
    {
        foreach (var key in _bindings.Keys.Where(matches).ToList())
        {
            var binding = _bindings[key];
            _bindings.Remove(key);
            _inputs.Remove(binding);
            binding.Dispose();
        }
    }

    public void Run(RunOptions runOptions, OrtIoBinding binding)
    {
        if (_inputsCopiedAtBind && _inputs.TryGetValue(binding, out var inputs))
        {
            // What the host buffers hold now, copied to the device now (see the class remarks).
            binding.ClearBoundInputs();
            foreach (var (name, value) in inputs)
            {
                binding.BindInput(name, value);
            }
        }

        Session.RunWithBinding(runOptions, binding);
    }

    /// <summary>Whether inputs are bound again before every run (a non-CPU execution provider).</summary>
    public bool RebindsInputsPerRun => _inputsCopiedAtBind;

    public void Dispose()
    {
        foreach (var binding in _bindings.Values)
        {
            binding.Dispose();
        }

        Session.Dispose();
    }
}
