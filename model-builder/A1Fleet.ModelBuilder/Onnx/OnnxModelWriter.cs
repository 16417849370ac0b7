using A1Fleet.ModelBuilder.Onnx.Proto;
using A1Fleet.ModelBuilder.Weights;
using Google.Protobuf;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Onnx;

/// <summary>
/// Builds one ONNX model (IR version 8, default-domain opset 17) node by node. Every helper returns
/// the name of the value it produced; values get generated names until <see cref="Output"/> gives a
/// value its public name. Serialisation is deterministic: the same calls give the same bytes.
/// </summary>
public sealed class OnnxModelWriter
{
    public const long IrVersion = 8;
    public const long OpsetVersion = 17;
    public const string ProducerName = "A1Fleet.ModelBuilder";
    public const float LayerNormEpsilon = 1e-5f;

    private readonly GraphProto graph;
    private readonly HashSet<string> valueNames = new(StringComparer.Ordinal);
    private int nextId;

    public OnnxModelWriter(string graphName, string docString = "")
    {
        graph = new GraphProto { Name = graphName, DocString = docString };
    }

    public string GraphName => graph.Name;

    public string Input(string name, DataType type, params OnnxDim[] shape)
    {
        Claim(name);
        graph.Input.Add(ValueInfo(name, type, shape));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> a graph output named <paramref name="name"/>, renaming it everywhere.</summary>
    public void Output(string value, string name, DataType type, params OnnxDim[] shape)
    {
        if (value != name)
        {
            Rename(value, name);
        }

        graph.Output.Add(ValueInfo(name, type, shape));
    }

    public string Initializer(string name, ReadOnlySpan<float> data, params long[] dims)
    {
        Claim(name);
        graph.Initializer.Add(OnnxTensors.Float(name, data, dims));
        return name;
    }

    /// <summary>Adds a weight tensor as an initializer under its own name (once; later calls reuse it).</summary>
    public string Weight(WeightTensor tensor)
    {
        if (valueNames.Contains(tensor.Name))
        {
            return tensor.Name;
        }

        return Initializer(tensor.Name, tensor.Data, tensor.Shape.Select(d => (long)d).ToArray());
    }

    /// <summary>A 1-D int64 constant (shapes, axes, slice bounds).</summary>
    public string Int64s(params long[] values)
    {
        string name = NewName("const_i64");
        graph.Initializer.Add(OnnxTensors.Int64(name, values, [values.Length]));
        return name;
    }

    /// <summary>A rank-0 float constant.</summary>
    public string Scalar(float value)
    {
        string name = NewName("const_f32");
        graph.Initializer.Add(OnnxTensors.Float(name, [value], []));
        return name;
    }

    /// <summary>A float constant of any shape.</summary>
    public string Constant(ReadOnlySpan<float> data, params long[] dims)
    {
        string name = NewName("const_f32");
        graph.Initializer.Add(OnnxTensors.Float(name, data, dims));
        return name;
    }

    public string Node(string opType, IReadOnlyList<string> inputs, params AttributeProto[] attributes)
    {
        string output = NewName(opType);
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.Add(inputs);
        node.Output.Add(output);
        node.Attribute.Add(attributes);
        graph.Node.Add(node);
        return output;
    }

    public string MatMul(string a, string b) => Node("MatMul", [a, b]);
    public string Add(string a, string b) => Node("Add", [a, b]);
    public string Mul(string a, string b) => Node("Mul", [a, b]);
    public string Sigmoid(string x) => Node("Sigmoid", [x]);
    public string Relu(string x) => Node("Relu", [x]);
    public string Sin(string x) => Node("Sin", [x]);
    public string Cos(string x) => Node("Cos", [x]);

    /// <summary>Reshape; a 0 in <paramref name="shape"/> copies that input dim (how the symbolic batch passes through).</summary>
    public string Reshape(string x, params long[] shape) => Node("Reshape", [x, Int64s(shape)]);

    public string Transpose(string x, params long[] perm) => Node("Transpose", [x], OnnxAttributes.Ints("perm", perm));

    public string Softmax(string x, long axis = -1) => Node("Softmax", [x], OnnxAttributes.Int("axis", axis));

    public string LayerNormalization(string x, string scale, string bias) =>
        Node("LayerNormalization", [x, scale, bias], OnnxAttributes.Int("axis", -1), OnnxAttributes.Float("epsilon", LayerNormEpsilon));

    public string Concat(long axis, params string[] inputs) => Node("Concat", inputs, OnnxAttributes.Int("axis", axis));

    public string Slice(string x, long[] starts, long[] ends, long[] axes) =>
        Node("Slice", [x, Int64s(starts), Int64s(ends), Int64s(axes)]);

    public string Unsqueeze(string x, params long[] axes) => Node("Unsqueeze", [x, Int64s(axes)]);

    public string Gather(string data, string indices, long axis = 0) => Node("Gather", [data, indices], OnnxAttributes.Int("axis", axis));

    /// <summary>Shape(x)[start:end] (the start/end attributes exist from opset 15).</summary>
    public string Shape(string x, long start, long end) =>
        Node("Shape", [x], OnnxAttributes.Int("start", start), OnnxAttributes.Int("end", end));

    public string Expand(string x, string shape) => Node("Expand", [x, shape]);

    public ModelProto ToModel()
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = ProducerName,
            ProducerVersion = "1",
            ModelVersion = 1,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        return model;
    }

    public byte[] ToBytes() => ToModel().ToByteArray();

    /// <summary>Writes the model and returns its size in bytes.</summary>
    public long Save(string path)
    {
        byte[] bytes = ToBytes();
        File.WriteAllBytes(path, bytes);
        return bytes.LongLength;
    }

    private string NewName(string stem)
    {
        string name = $"{stem}_{nextId++}";
        Claim(name);
        return name;
    }

    private void Claim(string name)
    {
        if (!valueNames.Add(name))
        {
            throw new InvalidOperationException($"Graph '{graph.Name}' already has a value named '{name}'.");
        }
    }

    private void Rename(string from, string to)
    {
        var producer = graph.Node.SingleOrDefault(n => n.Output.Contains(from))
            ?? throw new InvalidOperationException($"No node of graph '{graph.Name}' produces '{from}'.");
        Claim(to);
        valueNames.Remove(from);
        producer.Output[producer.Output.IndexOf(from)] = to;
        foreach (var node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == from)
                {
                    node.Input[i] = to;
                }
            }
        }
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, OnnxDim[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var dim in shape)
        {
            tensorShape.Dim.Add(dim.Symbol is null
                ? new TensorShapeProto.Types.Dimension { DimValue = dim.Value }
                : new TensorShapeProto.Types.Dimension { DimParam = dim.Symbol });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } },
        };
    }
}
