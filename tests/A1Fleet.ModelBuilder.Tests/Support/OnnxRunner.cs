using Microsoft.ML.OnnxRuntime;

namespace A1Fleet.ModelBuilder.Tests.Support;

/// <summary>A named graph input: float[] or long[] data with its shape.</summary>
internal sealed record NamedInput(string Name, Array Data, long[] Shape)
{
    public OrtValue ToOrtValue() => Data switch
    {
        float[] floats => OrtValue.CreateTensorValueFromMemory(floats, Shape),
        long[] longs => OrtValue.CreateTensorValueFromMemory(longs, Shape),
        _ => throw new ArgumentException($"Unsupported input type {Data.GetType()}."),
    };
}

/// <summary>One float output of a graph run.</summary>
internal sealed record GraphOutput(float[] Data, long[] Shape);

/// <summary>Runs an ONNX file on ONNX Runtime's CPU provider, with the default (full) graph optimisations the engine uses.</summary>
internal static class OnnxRunner
{
    public static Dictionary<string, GraphOutput> Run(string path, params NamedInput[] inputs)
    {
        using var session = new InferenceSession(path);
        var values = inputs.Select(i => i.ToOrtValue()).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputs.Select(i => i.Name).ToList(), values, session.OutputNames);
            return session.OutputNames.Zip(results).ToDictionary(
                pair => pair.First,
                pair => new GraphOutput(pair.Second.GetTensorDataAsSpan<float>().ToArray(), pair.Second.GetTensorTypeAndShape().Shape));
        }
        finally
        {
            values.ForEach(v => v.Dispose());
        }
    }
}
